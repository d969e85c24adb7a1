output "cluster" {
  description = "Cluster name, location, endpoint and CA certificate, for the kubernetes and helm providers."
  value = {
    name           = module.gke.name
    location       = module.gke.location
    endpoint       = module.gke.endpoint
    ca_certificate = module.gke.ca_certificate
  }
  sensitive = true
}

output "pipeline_platform" {
  description = "What the pipeline compiler needs (written to config/platform.json by scripts/platform_from_terraform.sh)."
  value = {
    project_id      = var.project_id
    region          = var.region
    buckets         = module.buckets.uris
    image_registry  = module.registry.image_registry
    pipeline_gcp_sa = module.iam.pipeline_service_account
    serving_gcp_sa  = module.iam.serving_service_account
    gpu = {
      node_selector = { "retrain-pipelines/pool" = "gpu" }
      resource      = "nvidia.com/gpu"
      accelerator   = var.gpu_pool.accelerator_type
      tolerations   = module.gpu_pool.taints
    }
  }
}
