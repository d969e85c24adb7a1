# The composed platform under a mocked google provider: the GPU pool is the one config/platform.json
# describes (scale from 0, its node selector and toleration), and `pipeline_platform` carries the
# values the compiler reads (tests/infra/test_tofu.py checks the full shape through envs/dev).
mock_provider "google" {
  mock_resource "google_service_account" {
    defaults = {
      email = "retrain-test-mock@test-project.iam.gserviceaccount.com"
      name  = "projects/test-project/serviceAccounts/retrain-test-mock@test-project.iam.gserviceaccount.com"
    }
  }
}

variables {
  project_id = "test-project"
  region     = "us-central1"
  prefix     = "retrain-test"
  network = {
    network        = "vpc"
    subnetwork     = "subnet"
    pods_range     = "pods"
    services_range = "services"
  }
}

run "gpu_as_the_platform_file_names_it" {
  command = plan

  assert {
    condition     = output.pipeline_platform.gpu == jsondecode(file("../../../../config/platform.json")).gpu
    error_message = "pipeline_platform.gpu (pool label, resource, accelerator, taints) differs from config/platform.json"
  }

  assert {
    condition     = var.gpu_pool.min_nodes == 0 && var.gpu_pool.spot
    error_message = "the GPU pool must scale from 0 on Spot VMs by default"
  }

  assert {
    condition     = output.pipeline_platform.buckets == { data = "gs://retrain-test-data", artifacts = "gs://retrain-test-artifacts", models = "gs://retrain-test-models" }
    error_message = "pipeline_platform.buckets must be the three buckets' gs:// URIs"
  }

  assert {
    condition     = output.pipeline_platform.image_registry == "us-central1-docker.pkg.dev/test-project/retrain-test-images"
    error_message = "pipeline_platform.image_registry must be the repository's image prefix"
  }
}
