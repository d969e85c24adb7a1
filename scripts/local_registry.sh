#!/usr/bin/env bash
# Start an image registry on loopback (127.0.0.1:5000, no auth, blobs under build/registry) unless
# one answers there already: a place to try `make publish-images REGISTRY=localhost:5000/retrain`
# where no remote registry can be reached (the manifests pin those digests only for a platform
# whose image_registry is localhost:5000/retrain). Uses Debian's docker-registry (the CNCF
# distribution registry): apt-get install docker-registry. Docker trusts loopback registries
# without TLS.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR="${REGISTRY_ADDR:-127.0.0.1:5000}"
if curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1; then
  echo "registry already answers at $ADDR" >&2
  exit 0
fi
command -v docker-registry >/dev/null || {
  echo "local_registry.sh: docker-registry is missing: apt-get install docker-registry" >&2; exit 1; }
mkdir -p build/registry
cat >build/registry.yml <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $PWD/build/registry
http:
  addr: $ADDR
YAML
nohup docker-registry serve build/registry.yml >build/registry.log 2>&1 &
for _ in $(seq 50); do
  curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1 && { echo "registry started at $ADDR (log: build/registry.log)" >&2; exit 0; }
  sleep 0.2
done
echo "local_registry.sh: the registry did not answer at $ADDR; see build/registry.log" >&2
exit 1
