"""Answering: retrieve passages, group copies across articles, choose quotes, read follow-ups."""
