# Two dedicated identities: the nodes' (logs and metrics only) and the pipelines' (bound to the
# pipelines' Kubernetes service accounts by Workload Identity; reads data, writes artifacts/models).
resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.prefix}-nodes"
  display_name = "GKE nodes (${var.prefix})"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "pipeline" {
  project      = var.project_id
  account_id   = "${var.prefix}-pipeline"
  display_name = "Retraining pipelines (${var.prefix})"
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each           = { for ksa in var.kubernetes_service_accounts : "${ksa.namespace}/${ksa.name}" => ksa }
  service_account_id = google_service_account.pipeline.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.value.namespace}/${each.value.name}]"
}

locals {
  bucket_roles = {
    data      = "roles/storage.objectViewer"
    artifacts = "roles/storage.objectUser"
    models    = "roles/storage.objectUser"
  }
}

resource "google_storage_bucket_iam_member" "pipeline" {
  for_each = local.bucket_roles
  bucket   = var.bucket_names[each.key]
  role     = each.value
  member   = "serviceAccount:${google_service_account.pipeline.email}"
}
