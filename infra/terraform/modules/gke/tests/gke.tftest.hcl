# A private, VPC-native cluster with Workload Identity, shielded nodes and network policy, no client
# certificate and no default node pool; asserted on the plan with a mocked google provider.
mock_provider "google" {}

variables {
  project_id           = "test-project"
  prefix               = "retrain-test"
  location             = "us-central1"
  network              = "vpc"
  subnetwork           = "subnet"
  secondary_ranges     = { pods = "pods", services = "services" }
  node_service_account = "retrain-test-nodes@test-project.iam.gserviceaccount.com"
}

run "private_cluster_with_workload_identity" {
  command = plan

  assert {
    condition     = google_container_cluster.this.workload_identity_config[0].workload_pool == "test-project.svc.id.goog"
    error_message = "Workload Identity must use the project's pool"
  }

  assert {
    condition     = google_container_cluster.this.private_cluster_config[0].enable_private_nodes
    error_message = "nodes must be private"
  }

  assert {
    condition = (
      google_container_cluster.this.remove_default_node_pool
      && google_container_cluster.this.enable_shielded_nodes
      && google_container_cluster.this.enable_legacy_abac == false
      && google_container_cluster.this.network_policy[0].enabled
      && google_container_cluster.this.master_auth[0].client_certificate_config[0].issue_client_certificate == false
    )
    error_message = "no default pool, shielded nodes, no ABAC, network policy on, no client certificate"
  }

  assert {
    condition = (
      google_container_cluster.this.ip_allocation_policy[0].cluster_secondary_range_name == "pods"
      && google_container_cluster.this.ip_allocation_policy[0].services_secondary_range_name == "services"
    )
    error_message = "the cluster must be VPC-native on the given secondary ranges"
  }

  assert {
    condition     = google_container_cluster.this.node_config[0].service_account == var.node_service_account
    error_message = "even the short-lived default pool must use the dedicated node account"
  }
}

run "release_channel_validated" {
  command = plan

  variables {
    release_channel = "NIGHTLY"
  }

  expect_failures = [var.release_channel]
}
