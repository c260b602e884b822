#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver, for the browser test of the website. Installs only when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing: run 'sudo apt-get update && sudo apt-get install -y chromium chromium-driver'" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
