"""Ingest: copy raw source files into an immutable snapshot with a manifest."""
