# Thin environment root: the platform modules, then the workflow engines on the new cluster.
provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

locals {
  cluster = module.platform.cluster
  labels  = { environment = basename(abspath(path.root)), managed-by = "terraform" }
}

provider "kubernetes" {
  host                   = "https://${local.cluster.endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(local.cluster.ca_certificate)
}

provider "helm" {
  kubernetes = {
    host                   = "https://${local.cluster.endpoint}"
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = base64decode(local.cluster.ca_certificate)
  }
}

provider "kustomization" {
  kubeconfig_raw = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = "gke"
    clusters        = [{ name = "gke", cluster = { server = "https://${local.cluster.endpoint}", certificate-authority-data = local.cluster.ca_certificate } }]
    users           = [{ name = "gke", user = { token = data.google_client_config.current.access_token } }]
    contexts        = [{ name = "gke", context = { cluster = "gke", user = "gke" } }]
  })
}

module "platform" {
  source                     = "../../modules/platform"
  project_id                 = var.project_id
  region                     = var.region
  prefix                     = var.prefix
  network                    = var.network
  master_authorized_networks = var.master_authorized_networks
  cpu_pool                   = var.cpu_pool
  gpu_pool                   = var.gpu_pool
  kms_key_name               = var.kms_key_name
  log_bucket                 = var.log_bucket
  deletion_protection        = var.deletion_protection
  labels                     = local.labels
}

module "workflow_engines" {
  source          = "../../modules/workflow_engines"
  artifact_bucket = trimprefix(module.platform.pipeline_platform.buckets["artifacts"], "gs://")
  pipeline_service_account = {
    gcp_email = module.platform.pipeline_platform.pipeline_gcp_sa
  }
}
