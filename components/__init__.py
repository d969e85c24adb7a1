"""Reusable pipeline components: each one a plain-Python CLI with a KFP interface beside it."""
