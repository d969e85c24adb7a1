output "names" {
  description = "Bucket names by role."
  value       = { for role, b in google_storage_bucket.this : role => b.name }
}

output "uris" {
  description = "gs:// URIs by role."
  value       = { for role, b in google_storage_bucket.this : role => "gs://${b.name}" }
}
