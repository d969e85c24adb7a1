#!/usr/bin/env bash
# Argo's own check on the compiled Argo files: `argo lint --offline --strict` (the shelf's argo,
# tools/tools.txt) on every file under manifests/argo/, with templateRefs resolved offline from
# manifests/argo/templates/. Exits non-zero on any finding, with argo's own message.
#   scripts/argo_lint.sh            manifests/argo
#   scripts/argo_lint.sh DIR...     other folders of the same layout (DIR/*, DIR/templates/*)
#   ARGO=/path/to/argo scripts/argo_lint.sh   another argo binary
#
# Each file is linted on its own run, with --kinds limited to what belongs where (Workflows and
# CronWorkflows in DIR, WorkflowTemplates in DIR/templates), so a file argo silently skips (a
# misspelt kind, a non-Argo object) fails with "found nothing to lint" instead of passing.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
argo="${ARGO:-$("$py" "$root/scripts/tools.py" path argo)}" || exit 1
[ $# -gt 0 ] || set -- "$root/manifests/argo"

files=0
failed=0
lint() {  # lint KINDS FILE [RESOLVE_FROM]: one file, argo's own output on a finding
  local out
  files=$((files + 1))
  if out="$("$argo" lint --offline --strict --no-color --output simple --kinds "$1" "${@:2}" 2>&1)"; then
    echo "argo lint: ok   ${2#"$root"/}"
  else
    failed=$((failed + 1))
    echo "argo lint: FAIL ${2#"$root"/}"
    printf '%s\n' "$out" | sed 's/^/  /'
  fi
}

for dir in "$@"; do
  [ -d "$dir" ] || { echo "argo lint: no folder $dir" >&2; exit 2; }
  dir="$(cd "$dir" && pwd)"
  resolve=()
  [ -d "$dir/templates" ] && resolve=("$dir/templates")
  while IFS= read -r file; do
    lint workflows,cronworkflows "$file" "${resolve[@]}"
  done < <(find "$dir" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
  while IFS= read -r file; do
    lint workflowtemplates,clusterworkflowtemplates "$file"
  done < <(find "$dir" -mindepth 2 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
done

echo "argo lint ($("$argo" version)): $files files, $failed failed"
[ "$failed" -eq 0 ]
