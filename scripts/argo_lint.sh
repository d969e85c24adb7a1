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
# argo lint knows only Argo Workflows' kinds: a file of Argo Events objects (EventSource, Sensor;
# manifests/argo/retrain-triggers.yaml) is linted as the Workflows its Sensors' argoWorkflow
# triggers submit, with the templates resolved; its EventSource and Sensor fields are checked by
# pipelines/argo/validate.py against Argo's JSON schema (tests/pipelines/test_argo_events.py).
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

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
lint_events() {  # lint_events FILE [RESOLVE_FROM]: the Workflows of the file's Sensor triggers
  local out name="${1#"$root"/}" dir
  files=$((files + 1))
  dir="$scratch/$files"
  mkdir -p "$dir"
  # shellcheck disable=SC2016  # the Python below is single-quoted on purpose
  "$py" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
n = 0
for d in docs:
    for t in d.get("spec", {}).get("triggers", []) if d.get("kind") == "Sensor" else []:
        r = t.get("template", {}).get("argoWorkflow", {}).get("source", {}).get("resource")
        if r:  # submitted where the Sensor runs unless it names a namespace, as Argo Events does
            n += 1
            if d["metadata"].get("namespace"):
                r["metadata"].setdefault("namespace", d["metadata"]["namespace"])
            open(f"{sys.argv[2]}/trigger-{n}.yaml", "w").write(yaml.safe_dump(r, sort_keys=False))
' "$1" "$dir" || { failed=$((failed + 1)); echo "argo lint: FAIL $name (not readable YAML)"; return; }
  if out="$("$argo" lint --offline --strict --no-color --output simple --kinds workflows "$dir" "${@:2}" 2>&1)"; then
    echo "argo lint: ok   $name"
    echo "  as its $(find "$dir" -name '*.yaml' | wc -l) Sensor trigger Workflows"
  else
    failed=$((failed + 1))
    echo "argo lint: FAIL $name (its Sensor trigger Workflows)"
    printf '%s\n' "$out" | sed 's/^/  /'
  fi
}

for dir in "$@"; do
  [ -d "$dir" ] || { echo "argo lint: no folder $dir" >&2; exit 2; }
  dir="$(cd "$dir" && pwd)"
  resolve=()
  [ -d "$dir/templates" ] && resolve=("$dir/templates")
  while IFS= read -r file; do
    if grep -qE '^kind: (EventSource|Sensor)$' "$file"; then
      lint_events "$file" "${resolve[@]}"
    else
      lint workflows,cronworkflows "$file" "${resolve[@]}"
    fi
  done < <(find "$dir" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
  while IFS= read -r file; do
    lint workflowtemplates,clusterworkflowtemplates "$file"
  done < <(find "$dir" -mindepth 2 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
done

echo "argo lint ($("$argo" version)): $files files, $failed failed"
[ "$failed" -eq 0 ]
