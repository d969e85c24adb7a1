output "argo_namespace" {
  description = "Namespace of the Argo Workflows controller."
  value       = helm_release.argo.namespace
}

output "workflow_namespace" {
  description = "Namespace the pipelines' workflows run in."
  value       = kubernetes_namespace_v1.workflows.metadata[0].name
}

output "workflow_service_account" {
  description = "Kubernetes service account the workflows run as."
  value       = kubernetes_service_account_v1.pipeline.metadata[0].name
}
