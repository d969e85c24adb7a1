# Argo Workflows (helm) with its artifact repository on the artifacts bucket, and Kubeflow
# Pipelines standalone (kustomize). Both run workloads as the pipeline Kubernetes service account,
# which Workload Identity maps to the pipeline GCP service account.
resource "kubernetes_namespace_v1" "workflows" {
  metadata {
    name = var.argo.workflow_namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "restricted"
    }
  }
}

resource "kubernetes_service_account_v1" "pipeline" {
  metadata {
    name      = var.pipeline_service_account.name
    namespace = kubernetes_namespace_v1.workflows.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = var.pipeline_service_account.gcp_email
    }
  }
  automount_service_account_token = true
}

resource "helm_release" "argo" {
  name             = "argo-workflows"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-workflows"
  version          = var.argo.chart_version
  namespace        = var.argo.namespace
  create_namespace = true
  atomic           = true

  values = [yamlencode({
    useStaticCredentials = false
    artifactRepository = {
      archiveLogs = true
      gcs = {
        bucket    = var.artifact_bucket
        keyFormat = "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
      }
    }
    controller = {
      workflowNamespaces = [var.argo.workflow_namespace]
    }
    workflow = {
      serviceAccount = {
        create = false
        name   = var.pipeline_service_account.name
      }
      rbac = { create = true }
    }
  })]
}

data "kustomization_build" "kfp_cluster" {
  count = var.kfp.enabled ? 1 : 0
  path  = "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=${var.kfp.version}"
}

resource "kustomization_resource" "kfp_cluster" {
  for_each = var.kfp.enabled ? data.kustomization_build.kfp_cluster[0].ids : toset([])
  manifest = data.kustomization_build.kfp_cluster[0].manifests[each.value]
}

data "kustomization_build" "kfp" {
  count = var.kfp.enabled ? 1 : 0
  path  = "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=${var.kfp.version}"
}

resource "kustomization_resource" "kfp" {
  for_each   = var.kfp.enabled ? data.kustomization_build.kfp[0].ids : toset([])
  manifest   = data.kustomization_build.kfp[0].manifests[each.value]
  depends_on = [kustomization_resource.kfp_cluster]
}

# KFP's own runner service account acts as the pipeline identity too.
resource "kubernetes_annotations" "kfp_runner" {
  count       = var.kfp.enabled ? 1 : 0
  api_version = "v1"
  kind        = "ServiceAccount"
  metadata {
    name      = "pipeline-runner"
    namespace = "kubeflow"
  }
  annotations = {
    "iam.gke.io/gcp-service-account" = var.pipeline_service_account.gcp_email
  }
  depends_on = [kustomization_resource.kfp]
}
