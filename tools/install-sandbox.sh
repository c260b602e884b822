#!/usr/bin/env bash
# The grading sandbox: bubblewrap (bwrap) and libseccomp, from the system's packages. Installs only
# what is missing; without root, says what to run instead.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || need+=(libseccomp2)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${need[*]}. Install them with your system's package manager (Fedora: dnf install bubblewrap libseccomp)." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]}. Run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
