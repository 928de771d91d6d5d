#!/usr/bin/env bash
# The test suite, as the README gives it: install the tools the tests need (scripts/test-tools.sh),
# then `cargo test` with any arguments given (e.g. `scripts/test.sh --test scan_cli`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-tools.sh
exec cargo test --locked "$@"
