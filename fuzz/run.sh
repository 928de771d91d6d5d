#!/usr/bin/env bash
# Fuzz the archive readers for a bounded time, keep a minimised corpus in the repository, and
# judge that corpus with the differential test (the installers' own extractors as the oracle).
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 120; needs nightly Rust and cargo-fuzz)
# Crashes and hangs land in fuzz/artifacts/TARGET/; make each a fixture in tests/ when fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-120}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
# Seeds: the hostile and honest corpus of tests/common/hostile.rs.
AIRLOCK_FUZZ_SEEDS="$seeds" cargo test --test archive_differential -- --quiet >/dev/null
cd fuzz
for target in tar tar_gz zip; do
  mkdir -p "corpus/$target" "artifacts/$target"
  # -s none: the readers are safe Rust; coverage guidance is what finds the differences.
  # libFuzzer counts its own time; `timeout` bounds the wall clock on a busy machine too.
  timeout --signal=INT "$((secs * 3 + 120))" \
    cargo +nightly fuzz run -s none "$target" "corpus/$target" "$seeds/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    2>&1 | tail -n 15
  # Keep the smallest set that covers what was found.
  cargo +nightly fuzz cmin -s none "$target" "corpus/$target" -- -max_len=65536 >/dev/null 2>&1 || true
done
cd ..
# Every corpus file through pip, tarfile, zipfile and npm's pacote against airlock.
cargo test --test archive_differential
