#!/usr/bin/env bash
# Installs what the test suite needs beside Rust, idempotently (a second run takes a second):
# a project venv (.venv) with pip and scripts/test-requirements.txt, and verdaccio from
# .ci/verdaccio's lock file. Needs python3 (with venv), node and npm, and kubectl; as root on
# Debian it installs those too.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq "$@"
  else
    echo "error: the tests need $*; install it, then run $0 again" >&2
    exit 1
  fi
}
command -v python3 >/dev/null 2>&1 || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
# The machine image ships kubectl; Debian's kubernetes-client is the fallback.
command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

# Real package clients and servers in a project venv (pip from PyPI, not the machine's).
want="$(stamp scripts/test-requirements.txt)"
if [ "$(cat .venv/.airlock-tools 2>/dev/null)" != "$want" ]; then
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/test-requirements.txt
  echo "$want" > .venv/.airlock-tools
fi
# verdaccio@6.8.0, the third-party npm registry airlock's publishes are proven against (locked).
want="$(stamp .ci/verdaccio/package-lock.json)"
if [ "$(cat .ci/verdaccio/node_modules/.airlock-tools 2>/dev/null)" != "$want" ]; then
  npm ci --prefix .ci/verdaccio --no-audit --no-fund --loglevel=error
  echo "$want" > .ci/verdaccio/node_modules/.airlock-tools
fi
echo "test tools: $(.venv/bin/pip --version | cut -d' ' -f1-2), uv $(.venv/bin/uv --version | cut -d' ' -f2), npm $(npm --version), $(kubectl version --client 2>/dev/null | head -1)"
