#!/usr/bin/env bash
# Make a Docker engine and the rftgym sandbox image available; a no-op in well under a second when
# both are there. Used by `make test` (and so by .ci/run) before the sandbox tests run.
#   1. dockerd missing  -> apt-get install Debian's docker.io (and debootstrap for the image build)
#   2. no engine answers -> start dockerd in the background, wait until `docker info` works
#   3. no sandbox image  -> build it offline from Debian packages (`rftgym sandbox build-image`)
# Needs root (or sudo) for steps 1 and 2; a machine whose engine already runs needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "ensure-docker: installing docker.io and debootstrap with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: /tmp/rftgym-dockerd.log)" >&2
  $SUDO sh -c 'nohup dockerd >/tmp/rftgym-dockerd.log 2>&1 &'
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "ensure-docker: dockerd did not come up; see /tmp/rftgym-dockerd.log" >&2; exit 1; }
fi

# The image tag the sandbox looks for by default (rftgym.sandbox.image.DEFAULT_IMAGE).
IMAGE="$("$PYTHON" -c 'from rftgym.sandbox.image import DEFAULT_IMAGE; print(DEFAULT_IMAGE)')"
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "ensure-docker: building $IMAGE from Debian packages (about a minute)" >&2
  "$PYTHON" -m rftgym sandbox build-image
fi
