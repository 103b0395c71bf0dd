"""The archive's passages in a Qdrant collection: dense vectors, BM25 sparse vectors and payload filters.

``bm25`` turns the tokens of ``index.lexical`` into sparse vectors whose dot product with Qdrant's IDF
equals the bm25s score; ``plan`` builds every query once, as plain values; ``client`` and ``edge`` send
a plan through ``qdrant-client`` (a server, or local mode) or run it in Qdrant Edge's in-process
shard; ``collection`` keeps a collection in step with an index generation and searches it.
"""
