#!/usr/bin/env bash
# A headless Chromium for the test that renders the HTML report (tests/test_workflow.py): the one on PATH,
# else Debian's `chromium` package installed with apt-get (no browser download of its own: the package
# mirror is the only outside source it needs).
#
#   scripts/install-chromium.sh      prints the browser's path (installing it first if missing)
#
# Exit status: 0 ready (the path on stdout); 2 this machine cannot provide one (not root, no apt-get,
# package not downloadable — the message says which); 1 anything else.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cannot() { echo "install-chromium: cannot provide a Chromium here: $*" >&2; exit 2; }
last() { printf '%s' "$1" | tail -c 500; }  # (bash's ${out: -500} is empty when $out is shorter)

find_browser() {
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

if find_browser; then exit 0; fi
[ "$(id -u)" -eq 0 ] || cannot "it needs root to install Debian's chromium package with apt-get (or put a chromium on PATH)"
command -v apt-get >/dev/null || cannot "there is no chromium on PATH and no apt-get to install one"
out=$(apt-get update -qq 2>&1) || cannot "\`apt-get update\` failed (no access to the package mirrors?): $(last "$out")"
out=$(apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core 2>&1) \
  || cannot "\`apt-get install chromium\` failed: $(last "$out")"
find_browser || { echo "install-chromium: chromium was installed but is not on PATH" >&2; exit 1; }
