output "ca_certificate" {
  description = "Cluster CA certificate (base64), for the kubernetes and helm providers."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "endpoint" {
  description = "Control plane endpoint, for the kubernetes and helm providers."
  value       = google_container_cluster.this.endpoint
  sensitive   = true
}

output "id" {
  description = "Cluster id, for node pools."
  value       = google_container_cluster.this.id
}

output "location" {
  description = "Cluster location."
  value       = google_container_cluster.this.location
}

output "name" {
  description = "Cluster name."
  value       = google_container_cluster.this.name
}

output "workload_pool" {
  description = "Workload Identity pool (<project>.svc.id.goog)."
  value       = google_container_cluster.this.workload_identity_config[0].workload_pool
}
