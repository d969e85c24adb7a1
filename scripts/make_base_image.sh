#!/usr/bin/env bash
# Make the image family's base without any image registry: debootstrap a minimal Debian bookworm
# root with python3, pip and venv from Debian's own packages, and `docker import` it.
#
#   sudo scripts/make_base_image.sh [--tag retrain-debian-base:bookworm] [--with-host-ca]
#                                   [--mirror http://deb.debian.org/debian]
#
# --with-host-ca puts this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt) into the
# image, for networks whose TLS to the package index goes through a proxy with its own CA. Leave
# it off when the public roots are enough. Users with a registry need none of this: the
# Dockerfiles default to the official python:3.11-slim-bookworm image, pinned by digest.
# Needs root, debootstrap and a running Docker engine. Prints the image id and size.
set -euo pipefail

TAG="retrain-debian-base:bookworm"
MIRROR="http://deb.debian.org/debian"
HOST_CA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --mirror) MIRROR="$2"; shift 2 ;;
    --with-host-ca) HOST_CA=/etc/ssl/certs/ca-certificates.crt; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "make_base_image.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

fail() { echo "make_base_image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "debootstrap needs root; run it with sudo"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
docker info >/dev/null 2>&1 || fail "no Docker engine answers: install docker.io and start dockerd"
[ -z "$HOST_CA" ] || [ -s "$HOST_CA" ] || fail "--with-host-ca: $HOST_CA does not exist"

ROOT="$(mktemp -d /tmp/retrain-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT

echo "debootstrap bookworm (minbase + python3, pip, venv) into $ROOT" >&2
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
  bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -20 "$ROOT.log" >&2; fail "debootstrap failed (log: $ROOT.log)"; }
rm -f "$ROOT.log"
echo "debootstrap took $(($(date +%s) - start)) s" >&2

if [ -n "$HOST_CA" ]; then
  # Debian's pip trusts the system bundle; replace it with the host's (a superset here).
  cp "$HOST_CA" "$ROOT/etc/ssl/certs/ca-certificates.crt"
fi
# What an image does not need: package lists and caches, docs, man pages, locales but C.
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* \
  "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/var/log/* "$ROOT"/tmp/*
# The official python image puts `python` on PATH; scripts and Dockerfiles may rely on it.
ln -sf python3 "$ROOT/usr/bin/python"

tar --numeric-owner -C "$ROOT" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
docker image inspect "$TAG" --format "$TAG {{.Id}} {{.Size}} bytes"
