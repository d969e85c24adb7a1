"""Operator tools: the cluster preflight check, the runs listing (MLflow tracking), and the
serving manifest of the A/B model server. They read the catalog and the platform file; no DAG
or backend depends on them."""
