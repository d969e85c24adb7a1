"""Argo Workflows backend: compile KFP IR to WorkflowTemplates, Workflows and CronWorkflows."""
