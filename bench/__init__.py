"""Benchmark: our extractor vs a naive per-file Spark loop vs DuckDB (see bench/README.md)."""
