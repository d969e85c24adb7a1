output "pipeline_platform" {
  description = "Read by the pipeline compiler: scripts/platform_from_terraform.sh writes it to config/platform.json."
  value = merge(module.platform.pipeline_platform, {
    namespace       = module.workflow_engines.workflow_namespace
    service_account = module.workflow_engines.workflow_service_account
  })
}
