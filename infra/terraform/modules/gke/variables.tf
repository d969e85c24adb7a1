variable "authenticator_security_group" {
  description = "Google Group used for Kubernetes RBAC (gke-security-groups@<domain>); null disables Google Groups for RBAC."
  type        = string
  default     = null
}

variable "database_encryption_key" {
  description = "Cloud KMS key (projects/.../cryptoKeys/...) that encrypts Kubernetes Secrets at the application layer; null keeps Google-managed encryption."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Resource labels put on the cluster."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Region (regional cluster) or zone of the cluster."
  type        = string
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
  description = "VPC network self link or name."
  type        = string
}

variable "node_service_account" {
  description = "Email of the dedicated node service account (never the Compute Engine default one)."
  type        = string
  validation {
    condition     = !endswith(var.node_service_account, "-compute@developer.gserviceaccount.com")
    error_message = "Use a dedicated node service account, not the Compute Engine default one."
  }
}

variable "prefix" {
  description = "Prefix of every resource name: lowercase letters, digits and hyphens, starting with a letter."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.prefix))
    error_message = "prefix must match ^[a-z][a-z0-9-]{1,20}$."
  }
}

variable "private_cluster" {
  description = "Private nodes are always on; these set the control plane CIDR and whether its endpoint is private too."
  type = object({
    master_ipv4_cidr_block  = optional(string, "172.16.0.0/28")
    enable_private_endpoint = optional(bool, false)
  })
  default = {}
}

variable "project_id" {
  description = "Project that holds the cluster."
  type        = string
}

variable "release_channel" {
  description = "GKE release channel: RAPID, REGULAR or STABLE."
  type        = string
  default     = "REGULAR"
  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "secondary_ranges" {
  description = "Names of the subnetwork's secondary ranges for pods and services (VPC-native cluster)."
  type = object({
    pods     = string
    services = string
  })
}

variable "subnetwork" {
  description = "Subnetwork self link or name."
  type        = string
}
