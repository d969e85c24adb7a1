variable "kms_key_name" {
  description = "Cloud KMS key for the repository (CMEK); null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on the repository."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Repository region, e.g. us-central1."
  type        = string
}

variable "prefix" {
  description = "Prefix of the repository id."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.prefix))
    error_message = "prefix must match ^[a-z][a-z0-9-]{1,40}$."
  }
}

variable "project_id" {
  description = "Project of the repository."
  type        = string
}

variable "readers" {
  description = "IAM members that pull images (the node service account)."
  type        = list(string)
  default     = []
}

variable "writers" {
  description = "IAM members that push images (the CI identity)."
  type        = list(string)
  default     = []
}
