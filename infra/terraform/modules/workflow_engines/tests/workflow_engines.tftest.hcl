# Argo through helm with its artifact repository on the artifacts bucket and no static credentials;
# workflows run as a Kubernetes service account annotated for Workload Identity; KFP's kustomize
# resources applied. Mocked helm, kubernetes and kustomization providers: no cluster, no network.
mock_provider "helm" {}
mock_provider "kubernetes" {}
mock_provider "kustomization" {
  mock_data "kustomization_build" {
    defaults = {
      ids       = ["_/Namespace/_/kubeflow"]
      manifests = { "_/Namespace/_/kubeflow" = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kubeflow\"}}" }
    }
  }
}

variables {
  artifact_bucket          = "retrain-test-artifacts"
  pipeline_service_account = { gcp_email = "retrain-test-pipeline@test-project.iam.gserviceaccount.com" }
}

run "workflows_run_as_the_workload_identity_account" {
  command = plan

  assert {
    condition     = kubernetes_service_account_v1.pipeline.metadata[0].annotations["iam.gke.io/gcp-service-account"] == var.pipeline_service_account.gcp_email
    error_message = "the workflow service account must be annotated with the pipeline GCP service account"
  }

  assert {
    condition     = output.workflow_namespace == "ml-pipelines" && output.workflow_service_account == "pipeline-runner"
    error_message = "workflows run in ml-pipelines as pipeline-runner (config/platform.json)"
  }

  assert {
    condition     = kubernetes_namespace_v1.workflows.metadata[0].labels["pod-security.kubernetes.io/enforce"] == "restricted"
    error_message = "the workflow namespace must enforce the restricted pod security standard"
  }

  assert {
    condition     = kubernetes_annotations.kfp_runner[0].annotations["iam.gke.io/gcp-service-account"] == var.pipeline_service_account.gcp_email
    error_message = "KFP's pipeline-runner must act as the pipeline GCP service account"
  }
}

run "argo_artifacts_on_the_bucket_without_static_credentials" {
  command = plan

  assert {
    condition     = yamldecode(helm_release.argo.values[0]).artifactRepository.gcs.bucket == "retrain-test-artifacts"
    error_message = "Argo's artifact repository must be the artifacts bucket"
  }

  assert {
    condition     = yamldecode(helm_release.argo.values[0]).useStaticCredentials == false
    error_message = "Argo must reach GCS through Workload Identity, not a key"
  }

  assert {
    condition     = yamldecode(helm_release.argo.values[0]).controller.workflowNamespaces == ["ml-pipelines"]
    error_message = "the controller must watch the workflow namespace"
  }
}

run "kfp_skipped_when_disabled" {
  command = plan

  variables {
    kfp = { enabled = false }
  }

  assert {
    condition     = length(kustomization_resource.kfp) == 0 && length(kubernetes_annotations.kfp_runner) == 0
    error_message = "kfp.enabled = false must apply no KFP resource"
  }
}
