output "name" {
  description = "Node pool name."
  value       = google_container_node_pool.this.name
}

output "node_selector" {
  description = "Labels that select this pool (the configured labels and GKE's pool label)."
  value       = merge(var.labels, { "cloud.google.com/gke-nodepool" = google_container_node_pool.this.name })
}

output "taints" {
  description = "Taints on the pool, in Kubernetes form (effect NoSchedule, not NO_SCHEDULE)."
  value = [for t in local.taints : {
    key    = t.key
    value  = t.value
    effect = { NO_SCHEDULE = "NoSchedule", PREFER_NO_SCHEDULE = "PreferNoSchedule", NO_EXECUTE = "NoExecute" }[t.effect]
  }]
}
