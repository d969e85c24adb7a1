#!/usr/bin/env bash
# Make sure a Docker engine answers, for `make images` and the container tests: use the running
# one, or (as root on Debian) install Debian's docker.io, debootstrap and docker-registry and start
# dockerd in the background. Exit 0 when an engine answers, 1 with the reason when none can run.
set -uo pipefail
if docker info >/dev/null 2>&1; then
  echo "Docker engine: running" >&2; exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "start_docker.sh: no Docker engine answers, and starting one needs root and apt-get" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null \
    || ! command -v docker-registry >/dev/null; then
  echo "installing docker.io, debootstrap and docker-registry from Debian's packages" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    docker.io debootstrap docker-registry >/dev/null \
    || { echo "start_docker.sh: apt-get install failed" >&2; exit 1; }
fi
mkdir -p build
nohup dockerd >build/dockerd.log 2>&1 &
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then echo "Docker engine: started (log: build/dockerd.log)" >&2; exit 0; fi
  sleep 0.5
done
echo "start_docker.sh: dockerd did not answer within 30 s; last lines of build/dockerd.log:" >&2
tail -5 build/dockerd.log >&2
exit 1
