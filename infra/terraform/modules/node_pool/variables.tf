variable "accelerator" {
  description = "GPU per node: type (e.g. nvidia-l4), count, and the driver version GKE installs (DEFAULT or LATEST); null for a CPU pool."
  type = object({
    type           = string
    count          = optional(number, 1)
    driver_version = optional(string, "DEFAULT")
  })
  default = null
}

variable "autoscaling" {
  description = "Node count bounds per zone; min 0 lets an idle pool cost nothing."
  type = object({
    min_nodes = optional(number, 0)
    max_nodes = optional(number, 3)
  })
  default = {}
  validation {
    condition     = var.autoscaling.min_nodes >= 0 && var.autoscaling.max_nodes >= var.autoscaling.min_nodes
    error_message = "autoscaling needs 0 <= min_nodes <= max_nodes."
  }
}

variable "cluster_id" {
  description = "Id of the cluster (modules/gke output `id`)."
  type        = string
}

variable "disk_size_gb" {
  description = "Boot disk size per node."
  type        = number
  default     = 100
}

variable "labels" {
  description = "Kubernetes node labels; workloads select the pool by these."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Cluster location (region or zone)."
  type        = string
}

variable "machine_type" {
  description = "Machine type, e.g. e2-standard-8 or g2-standard-8 for an L4 GPU."
  type        = string
}

variable "name" {
  description = "Node pool name."
  type        = string
}

variable "project_id" {
  description = "Project of the cluster."
  type        = string
}

variable "service_account" {
  description = "Email of the dedicated node service account (never the Compute Engine default one)."
  type        = string
  validation {
    condition     = !endswith(var.service_account, "-compute@developer.gserviceaccount.com")
    error_message = "Use a dedicated node service account, not the Compute Engine default one."
  }
}

variable "spot" {
  description = "Use Spot VMs (cheaper, preemptible; training resumes from its checkpoints)."
  type        = bool
  default     = false
}

variable "taints" {
  description = "Kubernetes taints; GPU pools get nvidia.com/gpu=present:NO_SCHEDULE added."
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  default = []
}
