#!/usr/bin/env bash
# The test suite, as the README gives it: install the tools the tests need (scripts/test-tools.sh),
# then `cargo test` with any arguments given (e.g. `scripts/test.sh --test scan_cli`).
#
# Where Go is installed, it also builds the real control plane (scripts/control-plane.sh: once,
# about ten minutes; seconds after that) and, for the whole suite, runs the end-to-end suites a
# second time against kube-apiserver and etcd instead of the embedded API server. CI always does;
# AIRLOCK_CONTROL_PLANE=skip leaves it out, AIRLOCK_CONTROL_PLANE=DIR uses binaries you have.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-tools.sh

plane=${AIRLOCK_CONTROL_PLANE:-}
if [[ $plane == skip ]]; then
  plane=
elif [[ -z $plane ]] && { command -v go >/dev/null || [[ ${CI:-} == true ]]; }; then
  plane=$(bash scripts/control-plane.sh)
fi
if [[ -n $plane ]]; then
  export AIRLOCK_CONTROL_PLANE=$plane
else
  unset AIRLOCK_CONTROL_PLANE
fi
# The first run uses the embedded API server wherever `airlock dev` is started.
unset KUBEBUILDER_ASSETS

cargo test --locked "$@"

# The suites that drive `airlock dev`, again on the real control plane.
E2E=(--test controller_e2e --test controller_ha --test sagemaker_e2e --test dev_kubectl --test approve_cli)
if [[ $# -gt 0 ]]; then
  exit 0
elif [[ -n $plane ]]; then
  echo "== the end-to-end suites again, on kube-apiserver and etcd from $plane"
  KUBEBUILDER_ASSETS=$plane cargo test --locked "${E2E[@]}"
else
  echo "== the real-control-plane run was NOT done: the end-to-end suites ran on the embedded API server only."
  echo "   Install Go and run scripts/test.sh again (it builds kube-apiserver and etcd), as CI does."
fi
