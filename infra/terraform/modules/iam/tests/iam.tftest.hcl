# One identity per workload, each with roles on its own buckets only, the Workload Identity
# bindings, and the serving account limited to its log prefix: asserted on the plan, mocked google.
mock_provider "google" {}

override_resource {
  target = google_service_account.nodes
  values = {
    email = "retrain-test-nodes@test-project.iam.gserviceaccount.com"
    name  = "projects/test-project/serviceAccounts/retrain-test-nodes@test-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target = google_service_account.pipeline
  values = {
    email = "retrain-test-pipeline@test-project.iam.gserviceaccount.com"
    name  = "projects/test-project/serviceAccounts/retrain-test-pipeline@test-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target = google_service_account.serving
  values = {
    email = "retrain-test-serving@test-project.iam.gserviceaccount.com"
    name  = "projects/test-project/serviceAccounts/retrain-test-serving@test-project.iam.gserviceaccount.com"
  }
}

variables {
  project_id = "test-project"
  prefix     = "retrain-test"
  bucket_names = {
    data      = "retrain-test-data"
    artifacts = "retrain-test-artifacts"
    models    = "retrain-test-models"
  }
}

run "one_identity_per_workload" {
  command = plan

  assert {
    condition = [
      google_service_account.nodes.account_id,
      google_service_account.pipeline.account_id,
      google_service_account.serving.account_id,
    ] == ["retrain-test-nodes", "retrain-test-pipeline", "retrain-test-serving"]
    error_message = "expected one service account per workload: nodes, pipeline, serving"
  }

  assert {
    condition = toset(keys(google_project_iam_member.nodes)) == toset([
      "roles/logging.logWriter",
      "roles/monitoring.metricWriter",
      "roles/monitoring.viewer",
      "roles/stackdriver.resourceMetadata.writer",
    ])
    error_message = "the node account has project roles beyond logs and metrics"
  }
}

run "roles_on_own_buckets_only" {
  command = plan

  assert {
    condition = { for key, m in google_storage_bucket_iam_member.pipeline : m.bucket => m.role } == {
      "retrain-test-data"      = "roles/storage.objectViewer"
      "retrain-test-artifacts" = "roles/storage.objectUser"
      "retrain-test-models"    = "roles/storage.objectUser"
    }
    error_message = "the pipeline account reads data and writes artifacts and models, nothing else"
  }

  assert {
    condition = { for key, m in google_storage_bucket_iam_member.serving : m.bucket => m.role } == {
      "retrain-test-artifacts" = "roles/storage.objectCreator"
      "retrain-test-models"    = "roles/storage.objectViewer"
    }
    error_message = "the serving account reads models and creates log objects, nothing else"
  }

  assert {
    condition     = toset([for m in google_storage_bucket_iam_member.pipeline : m.member]) == toset(["serviceAccount:retrain-test-pipeline@test-project.iam.gserviceaccount.com"])
    error_message = "a pipeline bucket role is granted to another member"
  }

  assert {
    condition     = toset([for m in google_storage_bucket_iam_member.serving : m.member]) == toset(["serviceAccount:retrain-test-serving@test-project.iam.gserviceaccount.com"])
    error_message = "a serving bucket role is granted to another member"
  }

  assert {
    condition     = alltrue([for m in google_project_iam_member.nodes : m.member == "serviceAccount:retrain-test-nodes@test-project.iam.gserviceaccount.com"])
    error_message = "the node roles must go to the node account"
  }
}

run "workload_identity_bindings" {
  command = plan

  assert {
    condition = { for key, b in google_service_account_iam_member.workload_identity : key => b.member } == {
      "ml-pipelines/pipeline-runner" = "serviceAccount:test-project.svc.id.goog[ml-pipelines/pipeline-runner]"
      "kubeflow/pipeline-runner"     = "serviceAccount:test-project.svc.id.goog[kubeflow/pipeline-runner]"
    }
    error_message = "the pipeline account must be bound to the Argo and KFP runners' Kubernetes service accounts"
  }

  assert {
    condition = alltrue([
      for b in google_service_account_iam_member.workload_identity :
      b.role == "roles/iam.workloadIdentityUser" && b.service_account_id == "projects/test-project/serviceAccounts/retrain-test-pipeline@test-project.iam.gserviceaccount.com"
    ])
    error_message = "Workload Identity bindings must grant workloadIdentityUser on the pipeline account"
  }

  assert {
    condition = (
      google_service_account_iam_member.serving_workload_identity.member == "serviceAccount:test-project.svc.id.goog[ml-serving/model-server]"
      && google_service_account_iam_member.serving_workload_identity.role == "roles/iam.workloadIdentityUser"
      && google_service_account_iam_member.serving_workload_identity.service_account_id == "projects/test-project/serviceAccounts/retrain-test-serving@test-project.iam.gserviceaccount.com"
    )
    error_message = "the serving account must be bound to ml-serving/model-server"
  }
}

run "serving_limited_to_its_log_prefix" {
  command = plan

  assert {
    condition     = length(google_storage_bucket_iam_member.serving["artifacts"].condition) == 1
    error_message = "the serving account's create role on the artifacts bucket has no IAM condition"
  }

  assert {
    condition     = google_storage_bucket_iam_member.serving["artifacts"].condition[0].expression == "resource.name.startsWith(\"projects/_/buckets/retrain-test-artifacts/objects/serving-logs/\")"
    error_message = "the serving account may create objects outside serving-logs/: ${google_storage_bucket_iam_member.serving["artifacts"].condition[0].expression}"
  }

  assert {
    condition     = length(google_storage_bucket_iam_member.serving["models"].condition) == 0
    error_message = "reading the models bucket needs no condition"
  }
}

run "serving_log_prefix_is_a_folder" {
  command = plan

  variables {
    serving_log_prefix = "serving-logs"
  }

  expect_failures = [var.serving_log_prefix]
}
