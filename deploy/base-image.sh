#!/usr/bin/env bash
# The Dockerfile's base image without Docker Hub: a Debian bookworm minbase (its python3 is 3.11) with
# python3-venv, python3-pip and python-is-python3 (`python` on PATH, as in the official image), made
# by debootstrap from a Debian mirror and loaded with `docker import`. Build the stack on it with
#
#   ORDERPATH_PYTHON_IMAGE=orderpath-base:3.11-bookworm DOCKER_BUILDKIT=0 docker compose build
#
# The host's CA bundle and pip settings go into the image, so pip inside the build reaches the package
# index the way the host does (a desk behind a TLS-inspecting proxy or with its own index mirror).
# docs/operations.md, "Compose without Docker Hub", says when to use it. Run as root.
#
# usage: deploy/base-image.sh [TAG]     (TAG defaults to orderpath-base:3.11-bookworm)
# env:   DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

tag=${1:-orderpath-base:3.11-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() { echo "base-image: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "no debootstrap: apt-get install debootstrap"
docker info >/dev/null 2>&1 || die "no Docker engine answers (is dockerd running?)"

root=$(mktemp -d /tmp/orderpath-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$root" "$mirror"

# The host's trust and index settings: its CA bundle (with any local CA it trusts) and pip's config.
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
if [[ -f /etc/pip.conf ]]; then
    install -m 0644 /etc/pip.conf "$root/etc/pip.conf"
fi
# pip's settings from the environment, except those naming local folders of the host (find-links).
changes=(--change "ENV LANG=C.UTF-8" --change 'CMD ["python"]')
while IFS='=' read -r name value; do
    case $name in
        PIP_FIND_LINKS) ;;
        PIP_*) changes+=(--change "ENV $name=\"$value\"") ;;
    esac
done < <(env)

# What an image need not carry: apt's lists and caches, logs of the bootstrap.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*

tar --numeric-owner -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
docker run --rm "$tag" python -c 'import sys, venv, ensurepip; print("base-image:", sys.version.split()[0])'
echo "base-image: tagged $tag"
