# Private buckets: public access prevention enforced, uniform bucket-level access, versioned,
# never force-destroyed; asserted on the plan with a mocked google provider.
mock_provider "google" {}

variables {
  project_id = "test-project"
  prefix     = "retrain-test"
  location   = "us-central1"
}

run "buckets_are_private" {
  command = plan

  assert {
    condition     = toset(keys(google_storage_bucket.this)) == toset(["data", "artifacts", "models"])
    error_message = "expected the data, artifacts and models buckets"
  }

  assert {
    condition     = alltrue([for b in google_storage_bucket.this : b.public_access_prevention == "enforced"])
    error_message = "every bucket must enforce public access prevention"
  }

  assert {
    condition     = alltrue([for b in google_storage_bucket.this : b.uniform_bucket_level_access])
    error_message = "every bucket must use uniform bucket-level access (no object ACLs)"
  }

  assert {
    condition     = alltrue([for b in google_storage_bucket.this : b.versioning[0].enabled && !b.force_destroy])
    error_message = "every bucket must be versioned and refuse force_destroy"
  }

  assert {
    condition     = output.uris == { data = "gs://retrain-test-data", artifacts = "gs://retrain-test-artifacts", models = "gs://retrain-test-models" }
    error_message = "bucket URIs must be gs://<prefix>-<role>"
  }
}

run "cmek_and_access_logs_when_asked" {
  command = plan

  variables {
    kms_key_name = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
    log_bucket   = "retrain-test-logs"
  }

  assert {
    condition = alltrue([
      for b in google_storage_bucket.this :
      b.encryption[0].default_kms_key_name == "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k" && b.logging[0].log_bucket == "retrain-test-logs"
    ])
    error_message = "kms_key_name and log_bucket must reach every bucket"
  }
}
