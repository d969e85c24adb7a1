# The GPU pool scales from 0 and carries the taint and label that config/platform.json names (the
# compiler puts that node selector and toleration on the GPU steps); a CPU pool gets no taint.
mock_provider "google" {}

variables {
  project_id      = "test-project"
  location        = "us-central1"
  cluster_id      = "projects/test-project/locations/us-central1/clusters/retrain-test-gke"
  service_account = "retrain-test-nodes@test-project.iam.gserviceaccount.com"
}

run "gpu_pool_scales_from_zero_with_platform_taint_and_label" {
  command = plan

  variables {
    name         = "gpu"
    machine_type = "g2-standard-8"
    labels       = { "retrain-pipelines/pool" = "gpu" }
    autoscaling  = { min_nodes = 0, max_nodes = 2 }
    accelerator  = { type = "nvidia-l4" }
  }

  assert {
    condition     = google_container_node_pool.this.autoscaling[0].min_node_count == 0
    error_message = "the GPU pool must scale from 0 (an idle pool costs nothing)"
  }

  assert {
    condition     = google_container_node_pool.this.node_config[0].labels == tomap(jsondecode(file("../../../../config/platform.json")).gpu.node_selector)
    error_message = "the pool's node labels must be the node selector config/platform.json gives GPU steps"
  }

  assert {
    condition = [for t in google_container_node_pool.this.node_config[0].taint : { key = t.key, value = t.value, effect = t.effect }] == [
      { key = "nvidia.com/gpu", value = "present", effect = "NO_SCHEDULE" },
    ]
    error_message = "the GPU pool must be tainted nvidia.com/gpu=present:NoSchedule"
  }

  assert {
    condition     = output.taints == jsondecode(file("../../../../config/platform.json")).gpu.tolerations
    error_message = "the pool's taints (Kubernetes form) must be the tolerations config/platform.json gives GPU steps"
  }

  assert {
    condition = (
      google_container_node_pool.this.node_config[0].guest_accelerator[0].type == "nvidia-l4"
      && google_container_node_pool.this.node_config[0].guest_accelerator[0].count == 1
      && google_container_node_pool.this.node_config[0].guest_accelerator[0].gpu_driver_installation_config[0].gpu_driver_version == "DEFAULT"
    )
    error_message = "one L4 per node, with the driver GKE installs"
  }

  assert {
    condition = (
      google_container_node_pool.this.node_config[0].workload_metadata_config[0].mode == "GKE_METADATA"
      && google_container_node_pool.this.node_config[0].shielded_instance_config[0].enable_secure_boot
      && google_container_node_pool.this.node_config[0].service_account == var.service_account
    )
    error_message = "nodes must use the GKE metadata server, secure boot and the dedicated node account"
  }
}

run "cpu_pool_is_untainted" {
  command = plan

  variables {
    name         = "cpu"
    machine_type = "e2-standard-8"
    autoscaling  = { min_nodes = 1, max_nodes = 5 }
  }

  assert {
    condition     = length(google_container_node_pool.this.node_config[0].taint) == 0 && length(google_container_node_pool.this.node_config[0].guest_accelerator) == 0
    error_message = "a CPU pool has no GPU and no taint"
  }
}

run "default_compute_account_refused" {
  command = plan

  variables {
    name            = "cpu"
    machine_type    = "e2-standard-8"
    service_account = "123-compute@developer.gserviceaccount.com"
  }

  expect_failures = [var.service_account]
}
