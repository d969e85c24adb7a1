# The GCP side of the platform, composed from the single-purpose modules: identities first,
# then the cluster, its CPU and GPU pools, the buckets and the image repository.
module "buckets" {
  source       = "../buckets"
  project_id   = var.project_id
  prefix       = var.prefix
  location     = var.region
  kms_key_name = var.kms_key_name
  log_bucket   = var.log_bucket
  labels       = var.labels
}

module "iam" {
  source     = "../iam"
  project_id = var.project_id
  prefix     = var.prefix
  bucket_names = {
    data      = module.buckets.names["data"]
    artifacts = module.buckets.names["artifacts"]
    models    = module.buckets.names["models"]
  }
}

module "gke" {
  source                     = "../gke"
  project_id                 = var.project_id
  prefix                     = var.prefix
  location                   = var.region
  network                    = var.network.network
  subnetwork                 = var.network.subnetwork
  secondary_ranges           = { pods = var.network.pods_range, services = var.network.services_range }
  master_authorized_networks = var.master_authorized_networks
  node_service_account       = module.iam.node_service_account
  release_channel            = var.release_channel
  database_encryption_key    = var.kms_key_name
  deletion_protection        = var.deletion_protection
  labels                     = var.labels
}

module "cpu_pool" {
  source          = "../node_pool"
  project_id      = var.project_id
  location        = module.gke.location
  cluster_id      = module.gke.id
  name            = "cpu"
  machine_type    = var.cpu_pool.machine_type
  spot            = var.cpu_pool.spot
  autoscaling     = { min_nodes = var.cpu_pool.min_nodes, max_nodes = var.cpu_pool.max_nodes }
  service_account = module.iam.node_service_account
  labels          = { "retrain-pipelines/pool" = "cpu" }
}

module "gpu_pool" {
  source          = "../node_pool"
  project_id      = var.project_id
  location        = module.gke.location
  cluster_id      = module.gke.id
  name            = "gpu"
  machine_type    = var.gpu_pool.machine_type
  spot            = var.gpu_pool.spot
  autoscaling     = { min_nodes = var.gpu_pool.min_nodes, max_nodes = var.gpu_pool.max_nodes }
  service_account = module.iam.node_service_account
  labels          = { "retrain-pipelines/pool" = "gpu" }
  accelerator = {
    type           = var.gpu_pool.accelerator_type
    count          = var.gpu_pool.accelerators
    driver_version = var.gpu_pool.driver_version
  }
}

module "registry" {
  source       = "../registry"
  project_id   = var.project_id
  prefix       = var.prefix
  location     = var.region
  kms_key_name = var.kms_key_name
  labels       = var.labels
  readers      = ["serviceAccount:${module.iam.node_service_account}"]
}
