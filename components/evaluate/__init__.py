"""Evaluate: metrics on the test split, plots and an HTML report, and the blessing decision."""
