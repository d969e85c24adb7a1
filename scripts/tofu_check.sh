#!/usr/bin/env bash
# OpenTofu's own checks on infra/terraform, with the providers built on the tool shelf and no
# registry: `tofu fmt -check`, `validate` on envs/dev, envs/prod and every module, and `tofu test`
# (mock providers, no credentials) on every folder with a tests/ folder.
#   scripts/tofu_check.sh                                 all of it
#   scripts/tofu_check.sh [--no-fmt] [--no-test] DIR...   only these folders (--no-fmt: no mirror
#                                                         check either)
#   TOFU_CHECK_TF=/a/copy/of/infra/terraform scripts/tofu_check.sh   check a copy (the tests do)
#
# Providers come from a CLI configuration written to a temporary folder, never from a registry.
# The shelf builds google, helm and kubernetes only at their repositories' development heads (the
# module proxy serves no pseudo-version of their 6.x/2.x tags; see tools/tools.txt), which no
# version constraint accepts, so they are loaded as `dev_overrides`; with an override in effect
# OpenTofu asks to skip `tofu init` (it would look for the overridden providers too). So each
# folder gets `tofu get` (its local modules), and kbst/kustomization, built at 0.9.8, is loaded
# from its place in the filesystem mirror the same way. `init -backend=false` from the mirror
# alone (`provider_installation { filesystem_mirror }`) is checked on a stub root requiring what
# the shelf builds at a pinned version: kbst/kustomization ~> 0.9, as versions.tf does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
tf="${TOFU_CHECK_TF:-$root/infra/terraform}"
fmt=1
test=1
dirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-fmt) fmt=0 ;;
    --no-test) test=0 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dirs+=("$(cd "$1" && pwd)") ;;
  esac
  shift
done
if [ ${#dirs[@]} -eq 0 ]; then
  dirs=("$tf/envs/dev" "$tf/envs/prod")
  for module in "$tf"/modules/*/; do dirs+=("${module%/}"); done
fi

tool_path() {
  "$py" "$root/scripts/tools.py" path "$1" || {
    echo "tofu_check: $1 is not built; run \`make tools\` (scripts/tools.py build $1)" >&2
    exit 2
  }
}
tofu="$(tool_path tofu)"
mirror="$("$py" "$root/scripts/tools.py" mirror)"
tool_path kustomization > /dev/null  # its build links it into the mirror
kustomization_dir="$(echo "$mirror"/registry.opentofu.org/kbst/kustomization/*/linux_*)"
[ -d "$kustomization_dir" ] || { echo "tofu_check: no kustomization in $mirror" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A dev override names a folder whose executable is terraform-provider-TYPE: the shelf names the
# development builds so, and the mirror's layout does the same for the pinned ones.
overrides=""
for kind in google helm kubernetes; do
  binary="$(tool_path "terraform-provider-$kind")"
  overrides+="    \"registry.opentofu.org/hashicorp/$kind\" = \"${binary%/*}\""$'\n'
done
overrides+="    \"registry.opentofu.org/kbst/kustomization\" = \"$kustomization_dir\""$'\n'
export TF_CLI_CONFIG_FILE="$work/tofurc"
printf 'provider_installation {\n  dev_overrides {\n%s  }\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' \
  "$overrides" "$mirror" > "$TF_CLI_CONFIG_FILE"
mirror_only="$work/mirror.tofurc"
printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$mirror" > "$mirror_only"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_DATA_DIR TF_PLUGIN_CACHE_DIR

failed=0
step() {  # step LABEL DIR COMMAND...: run one command in DIR, print its output when it fails
  local label="$1" dir="$2" start=$SECONDS shown="${2#"$tf/"}"
  [ "$dir" = "$tf" ] && shown="infra/terraform"
  [ "${dir#"$work"}" = "$dir" ] || shown="(a stub root)"
  shift 2
  if (cd "$dir" && "$@") > "$work/log" 2>&1; then
    echo "tofu_check: ok   $label: $shown ($((SECONDS - start)) s)"
  else
    echo "tofu_check: FAIL $label: $shown"
    sed 's/^/  /' "$work/log"
    failed=1
    return 1
  fi
}

if [ "$fmt" = 1 ]; then
  step "fmt -check -recursive" "$tf" "$tofu" fmt -check -recursive -diff -no-color || true
  stub="$work/mirror-stub"
  mkdir -p "$stub"
  printf 'terraform {\n  required_providers {\n    kustomization = {\n      source  = "kbst/kustomization"\n      version = "~> 0.9"\n    }\n  }\n}\n' > "$stub/main.tf"
  step "init -backend=false, filesystem mirror only (kbst/kustomization ~> 0.9)" "$stub" \
    env TF_CLI_CONFIG_FILE="$mirror_only" "$tofu" init -backend=false -input=false -no-color || true
fi
for dir in "${dirs[@]}"; do
  step "get" "$dir" "$tofu" get -no-color || continue
  step "validate" "$dir" "$tofu" validate -no-color || continue
  if [ "$test" = 1 ] && [ -d "$dir/tests" ]; then
    step "test" "$dir" "$tofu" test -no-color || true
  fi
done
exit "$failed"
