"""Pipeline definitions (one DAG per module) and the thin backends that compile or run them."""
