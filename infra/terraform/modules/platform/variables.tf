variable "cpu_pool" {
  description = "CPU node pool for Beam, evaluation and the workflow controllers."
  type = object({
    machine_type = optional(string, "e2-standard-8")
    min_nodes    = optional(number, 1)
    max_nodes    = optional(number, 5)
    spot         = optional(bool, false)
  })
  default = {}
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster."
  type        = bool
  default     = true
}

variable "gpu_pool" {
  description = "GPU node pool for training: scales from 0, tainted nvidia.com/gpu=present:NoSchedule."
  type = object({
    machine_type     = optional(string, "g2-standard-8")
    accelerator_type = optional(string, "nvidia-l4")
    accelerators     = optional(number, 1)
    driver_version   = optional(string, "DEFAULT")
    min_nodes        = optional(number, 0)
    max_nodes        = optional(number, 2)
    spot             = optional(bool, true)
  })
  default = {}
}

variable "kms_key_name" {
  description = "Cloud KMS key for buckets, the image repository and Kubernetes Secrets (CMEK); null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "log_bucket" {
  description = "Bucket that receives the buckets' access logs; null disables access logging."
  type        = string
  default     = null
}

variable "master_authorized_networks" {
  description = "CIDR blocks allowed to reach the control plane endpoint."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []
}

variable "network" {
  description = "VPC network, subnetwork and the subnetwork's secondary ranges for pods and services."
  type = object({
    network        = string
    subnetwork     = string
    pods_range     = string
    services_range = string
  })
}

variable "prefix" {
  description = "Prefix of every resource name: lowercase letters, digits and hyphens, starting with a letter."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}$", var.prefix))
    error_message = "prefix must match ^[a-z][a-z0-9-]{1,17}$."
  }
}

variable "project_id" {
  description = "Project that holds everything."
  type        = string
}

variable "region" {
  description = "Region of the cluster, the buckets and the image repository."
  type        = string
}

variable "release_channel" {
  description = "GKE release channel: RAPID, REGULAR or STABLE."
  type        = string
  default     = "REGULAR"
}
