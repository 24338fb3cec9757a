#!/usr/bin/env bash
# Make Debian's headless browser available for the report tests (tests/test_report.py drives it
# with selenium); a no-op when chromium and chromedriver are both on PATH. Used by `make test`.
# Needs root (or sudo) to install; a machine that has both needs neither.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
echo "ensure-chromium: installing chromium and chromium-driver with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
