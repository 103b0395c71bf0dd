"""Building the index: clean, chunk, embed, and store passages with their vectors and BM25 terms."""
