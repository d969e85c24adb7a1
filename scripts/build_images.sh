#!/usr/bin/env bash
# Build the image family in order (base -> beam -> tf, and tf-gpu with --gpu) and tag each with
# the git SHA. Without a registry that is all (`make images`): the compiled manifests name the
# images by tag. With --registry (or --publish, the platform's image_registry) each image is
# pushed there under the SHA and under images.yaml's `tag`, and the registry and the digests are
# recorded in components/images.yaml (`published`): `make compile` then pins every image by
# digest, for that registry only (`make publish-images REGISTRY=...`).
#
#   scripts/build_images.sh [--base-image IMAGE] [--registry HOST[:PORT]/PATH | --publish]
#                           [--gpu] [--no-write]
#
# --base-image  the FROM of the core runtime (default: the Dockerfile's, the official slim Python
#               image pinned by digest; `make images` passes the base scripts/make_base_image.sh
#               makes from Debian's packages)
# --registry    push there and record its digests. A digest is the registry's name for the
#               pushed manifest: it exists only in a registry the image was pushed to.
# --publish     push to config/platform.json's image_registry
# --no-write    leave components/images.yaml alone
# Writes build/images.json: per family the local tag, image id, digest and size (the local
# runner's container mode reads it). Needs a running Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=""
REGISTRY=""
GPU=0
PUSH=0
WRITE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --base-image) BASE_IMAGE="$2"; shift 2 ;;
    --registry) REGISTRY="$2"; PUSH=1; shift 2 ;;
    --publish) PUSH=1; shift ;;
    --gpu) GPU=1; shift ;;
    --no-push) PUSH=0; REGISTRY=""; shift ;;
    --no-write) WRITE=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build_images.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
docker info >/dev/null 2>&1 || { echo "build_images.sh: no Docker engine answers; start dockerd" >&2; exit 1; }
if [ "$PUSH" = 1 ] && [ -z "$REGISTRY" ]; then
  REGISTRY="$("$PY" -c 'import json; print(json.load(open("config/platform.json"))["image_registry"])')"
fi
REGISTRY="${REGISTRY%/}"
TAG="$("$PY" -c 'import yaml; print(yaml.safe_load(open("components/images.yaml"))["tag"])')"
SHA="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- images requirements config components ':!components/images.yaml' \
  || SHA="$SHA-dirty"

name() { "$PY" -c 'import sys, yaml; print(yaml.safe_load(open("components/images.yaml"))["families"][sys.argv[1]])' "$1"; }

FAMILIES="base beam tf"
[ "$GPU" = 1 ] && FAMILIES="$FAMILIES tf-gpu"
mkdir -p build
RESULTS="build/images.tsv"
: >"$RESULTS"
for family in $FAMILIES; do
  image="$(name "$family")"
  args=()
  case "$family" in
    base) [ -n "$BASE_IMAGE" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE") ;;
    beam) args+=(--build-arg "FROM_IMAGE=$(name base):$SHA") ;;
    tf) args+=(--build-arg "FROM_IMAGE=$(name beam):$SHA") ;;
  esac
  echo "==> $family: docker build -f images/$family.Dockerfile -t $image:$SHA" >&2
  start=$(date +%s)
  docker build --quiet -f "images/$family.Dockerfile" ${args[@]+"${args[@]}"} -t "$image:$SHA" . >/dev/null
  seconds=$(($(date +%s) - start))
  id="$(docker image inspect "$image:$SHA" --format '{{.Id}}')"
  size="$(docker image inspect "$image:$SHA" --format '{{.Size}}')"
  digest=""
  if [ "$PUSH" = 1 ]; then
    remote="$REGISTRY/$image:$SHA"
    docker tag "$image:$SHA" "$remote"
    docker push --quiet "$remote" >/dev/null
    docker tag "$image:$SHA" "$REGISTRY/$image:$TAG"
    docker push --quiet "$REGISTRY/$image:$TAG" >/dev/null
    digest="$(docker image inspect "$remote" --format '{{range .RepoDigests}}{{println .}}{{end}}' \
      | grep -F "$REGISTRY/$image@" | head -1 | sed 's/.*@//')"
    [ -n "$digest" ] || { echo "build_images.sh: no digest for $remote after the push" >&2; exit 1; }
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$family" "$image:$SHA" "$id" "$digest" "$size" "$seconds" >>"$RESULTS"
  printf '%-7s %-30s %s  %s MB  (%s s)\n' "$family" "$image:$SHA" "${digest:-$id}" "$((size / 1000000))" "$seconds"
done

"$PY" - "$RESULTS" "$WRITE" "$PUSH" "$REGISTRY" <<'EOF'
"""build/images.json from the build's table; a publish's registry and digests into
components/images.yaml."""
import json
import re
import sys
from pathlib import Path

table, write, push, registry = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4]
built = {}
for line in Path(table).read_text().splitlines():
    family, ref, image_id, digest, size, seconds = line.split("\t")
    built[family] = {"ref": ref, "id": image_id, "digest": digest or None, "size": int(size),
                     "build_seconds": int(seconds), "registry": registry if digest else None}
Path("build/images.json").write_text(json.dumps(built, indent=2) + "\n")
if write and push:
    path = Path("components/images.yaml")
    text = path.read_text()
    digests = "".join(f"    {f}: {b['digest']}\n" for f, b in built.items())
    block = f"published:\n  registry: {json.dumps(registry)}\n  digests:\n{digests}"
    # Keep the file's comments; only the published block is rewritten.
    text = re.sub(r"^published:.*?(?=^\S|\Z)", lambda _: block, text, flags=re.S | re.M)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"recorded the digests of {sorted(built)} in {registry} into {path}; "
          "`make compile` pins them where image_registry is that registry")
elif not push:
    print("built locally (no push): the manifests name the images by tag; "
          "`make publish-images REGISTRY=...` pushes them and pins digests")
EOF
