"""Preprocess: an Apache Beam job that validates, labels, normalises and dedupes raw records."""
