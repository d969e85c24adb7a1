variable "argo" {
  description = "Argo Workflows from the argo-helm chart: chart version, its namespace, and the namespace pipelines run in."
  type = object({
    chart_version      = optional(string, "2.0.1")
    namespace          = optional(string, "argo")
    workflow_namespace = optional(string, "ml-pipelines")
  })
  default = {}
}

variable "artifact_bucket" {
  description = "Name of the artifacts bucket; Argo's default artifact repository (GCS, keys only, no static credentials: Workload Identity)."
  type        = string
}

variable "kfp" {
  description = "Kubeflow Pipelines standalone (kustomize manifests of kubeflow/pipelines at this release tag); enabled = false skips it."
  type = object({
    enabled = optional(bool, true)
    version = optional(string, "2.17.0")
  })
  default = {}
}

variable "pipeline_service_account" {
  description = "Kubernetes service account the workflows run as (bound to the pipeline GCP service account)."
  type = object({
    name      = optional(string, "pipeline-runner")
    gcp_email = string
  })
}
