variable "cpu_pool" {
  description = "CPU node pool settings (see modules/platform)."
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
  description = "GPU node pool settings (see modules/platform)."
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
  description = "Cloud KMS key for CMEK; null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "log_bucket" {
  description = "Bucket for access logs of the platform buckets; null disables access logging."
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
  description = "VPC network, subnetwork and its secondary ranges for pods and services."
  type = object({
    network        = string
    subnetwork     = string
    pods_range     = string
    services_range = string
  })
}

variable "prefix" {
  description = "Prefix of every resource name."
  type        = string
}

variable "project_id" {
  description = "GCP project."
  type        = string
}

variable "region" {
  description = "GCP region."
  type        = string
}
