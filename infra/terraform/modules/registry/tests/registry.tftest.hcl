# A Docker repository with immutable tags; readers get only the reader role.
mock_provider "google" {}

variables {
  project_id = "test-project"
  prefix     = "retrain-test"
  location   = "us-central1"
  readers    = ["serviceAccount:retrain-test-nodes@test-project.iam.gserviceaccount.com"]
}

run "immutable_docker_repository" {
  command = plan

  assert {
    condition = (
      google_artifact_registry_repository.images.format == "DOCKER"
      && google_artifact_registry_repository.images.docker_config[0].immutable_tags
    )
    error_message = "the image repository must be Docker with immutable tags"
  }

  assert {
    condition     = output.image_registry == "us-central1-docker.pkg.dev/test-project/retrain-test-images"
    error_message = "image_registry must be <location>-docker.pkg.dev/<project>/<prefix>-images"
  }

  assert {
    condition = (
      [for m in google_artifact_registry_repository_iam_member.readers : m.role] == ["roles/artifactregistry.reader"]
      && length(google_artifact_registry_repository_iam_member.writers) == 0
    )
    error_message = "readers pull only; no writer unless asked"
  }
}
