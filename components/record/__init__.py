"""The record step: every retraining run as an MLflow tracking run."""
