variable "bucket_names" {
  description = "Bucket names by role, from modules/buckets: data is read, artifacts and models are written."
  type = object({
    data      = string
    artifacts = string
    models    = string
  })
}

variable "kubernetes_service_accounts" {
  description = "Kubernetes service accounts (namespace and name) that act as the pipeline service account through Workload Identity: the one the Argo and KFP manifests run as."
  type = list(object({
    namespace = string
    name      = string
  }))
  default = [
    { namespace = "ml-pipelines", name = "pipeline-runner" },
    { namespace = "kubeflow", name = "pipeline-runner" },
  ]
}

variable "prefix" {
  description = "Prefix of the service account ids."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}$", var.prefix))
    error_message = "prefix must match ^[a-z][a-z0-9-]{1,17}$ (service account ids are at most 30 characters)."
  }
}

variable "project_id" {
  description = "Project of the service accounts and the cluster."
  type        = string
}

variable "serving_kubernetes_service_account" {
  description = "The Kubernetes service account the A/B model server runs as (manifests/serving/), bound to the serving service account through Workload Identity."
  type = object({
    namespace = string
    name      = string
  })
  default = { namespace = "ml-serving", name = "model-server" }
}

variable "serving_log_prefix" {
  description = "Object-name prefix in the artifacts bucket under which the A/B model server may create objects (its request log: components/serve uploads to gs://<artifacts>/serving-logs/<model>/requests/); ends with a slash."
  type        = string
  default     = "serving-logs/"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*/$", var.serving_log_prefix))
    error_message = "serving_log_prefix must be a folder name ending with a slash, e.g. serving-logs/."
  }
}
