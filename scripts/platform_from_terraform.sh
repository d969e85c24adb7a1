#!/usr/bin/env bash
# Write Terraform's `pipeline_platform` output to config/platform.json, the file the pipeline
# compiler reads, then recompile so the manifests match the infrastructure.
#   scripts/platform_from_terraform.sh dev     (after `terraform apply` in infra/terraform/envs/dev)
set -euo pipefail
env_name="${1:?usage: $0 ENV (a folder under infra/terraform/envs)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/infra/terraform/envs/$env_name"
[ -d "$dir" ] || { echo "error: no environment $dir" >&2; exit 2; }
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
terraform -chdir="$dir" output -json pipeline_platform > "$tmp"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), sys.stdout, indent=2, sort_keys=True); print()' \
  "$tmp" > "$root/config/platform.json"
echo "wrote config/platform.json from $dir"
make -C "$root" compile
