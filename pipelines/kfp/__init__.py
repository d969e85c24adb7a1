"""Kubeflow Pipelines backend: the real KFP compiler, nothing added."""
