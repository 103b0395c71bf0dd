"""Measuring retrieval: the gold question set, its runner and reports, and BEIR datasets."""
