# One autoscaled node pool. With `accelerator` set it is a GPU pool: GKE installs the driver, and
# the nvidia.com/gpu=present:NoSchedule taint keeps every pod that does not tolerate it away.
locals {
  gpu_taint = var.accelerator == null ? [] : [{
    key    = "nvidia.com/gpu"
    value  = "present"
    effect = "NO_SCHEDULE"
  }]
  taints = concat(local.gpu_taint, [for t in var.taints : t if t.key != "nvidia.com/gpu"])
}

resource "google_container_node_pool" "this" {
  name     = var.name
  project  = var.project_id
  location = var.location
  cluster  = var.cluster_id

  autoscaling {
    min_node_count = var.autoscaling.min_nodes
    max_node_count = var.autoscaling.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.machine_type
    disk_size_gb    = var.disk_size_gb
    image_type      = "COS_CONTAINERD"
    spot            = var.spot
    service_account = var.service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = var.labels

    metadata = {
      disable-legacy-endpoints = "true"
    }

    dynamic "taint" {
      for_each = local.taints
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = taint.value.effect
      }
    }

    dynamic "guest_accelerator" {
      for_each = var.accelerator == null ? [] : [var.accelerator]
      content {
        type  = guest_accelerator.value.type
        count = guest_accelerator.value.count
        gpu_driver_installation_config {
          gpu_driver_version = guest_accelerator.value.driver_version
        }
      }
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}
