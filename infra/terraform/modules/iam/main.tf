# Three dedicated identities: the nodes' (logs and metrics only), the pipelines' (bound to the
# pipelines' Kubernetes service accounts by Workload Identity; reads data, writes artifacts/models)
# and the A/B model server's (reads models, writes its request log under serving-logs/ of the
# artifacts bucket, nowhere else).
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

resource "google_service_account" "serving" {
  project      = var.project_id
  account_id   = "${var.prefix}-serving"
  display_name = "A/B model server (${var.prefix})"
}

resource "google_service_account_iam_member" "serving_workload_identity" {
  service_account_id = google_service_account.serving.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.serving_kubernetes_service_account.namespace}/${var.serving_kubernetes_service_account.name}]"
}

locals {
  # Reads versions and pointers; creates request-log objects (never overwrites or deletes), and
  # only under its log prefix: an IAM condition on the object name (the bucket is uniform access).
  serving_bucket_roles = {
    models    = { role = "roles/storage.objectViewer", prefix = null }
    artifacts = { role = "roles/storage.objectCreator", prefix = var.serving_log_prefix }
  }
}

resource "google_storage_bucket_iam_member" "serving" {
  for_each = local.serving_bucket_roles
  bucket   = var.bucket_names[each.key]
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.serving.email}"

  dynamic "condition" {
    for_each = each.value.prefix == null ? [] : [each.value.prefix]
    content {
      title       = "only-under-${trimsuffix(condition.value, "/")}"
      description = "Objects named ${condition.value}* only: the A/B server's request log."
      expression  = "resource.name.startsWith(\"projects/_/buckets/${var.bucket_names[each.key]}/objects/${condition.value}\")"
    }
  }
}
