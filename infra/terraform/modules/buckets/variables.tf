variable "buckets" {
  description = "Buckets by role (data, artifacts, models): lifecycle per bucket. Names are <prefix>-<role>."
  type = map(object({
    delete_after_days           = optional(number) # delete live objects this old; null keeps them
    noncurrent_versions_to_keep = optional(number, 3)
    noncurrent_days             = optional(number, 30)
  }))
  default = {
    data      = {}
    artifacts = { delete_after_days = 90 }
    models    = { noncurrent_versions_to_keep = 10 }
  }
}

variable "kms_key_name" {
  description = "Cloud KMS key for default object encryption (CMEK); null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every bucket."
  type        = map(string)
  default     = {}
}

variable "location" {
  description = "Bucket location (region or multi-region)."
  type        = string
}

variable "log_bucket" {
  description = "Bucket that receives access logs; null disables access logging."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Prefix of every bucket name: lowercase letters, digits and hyphens."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.prefix))
    error_message = "prefix must match ^[a-z][a-z0-9-]{1,40}$."
  }
}

variable "project_id" {
  description = "Project that owns the buckets."
  type        = string
}
