output "kubernetes_service_accounts" {
  description = "Kubernetes service accounts bound to the pipeline service account; annotate each with iam.gke.io/gcp-service-account."
  value       = var.kubernetes_service_accounts
}

output "node_service_account" {
  description = "Email of the dedicated node service account."
  value       = google_service_account.nodes.email
}

output "pipeline_service_account" {
  description = "Email of the pipeline service account."
  value       = google_service_account.pipeline.email
}

output "serving_service_account" {
  description = "Email of the A/B model server's service account."
  value       = google_service_account.serving.email
}
