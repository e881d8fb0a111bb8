#!/usr/bin/env bash
# npm test: installs what it needs (Debian packages as root, npm packages), then runs every suite:
# type check, linters (ESLint, pyflakes), Vitest (sampling math, CLIs, app logic), pytest (ADM toolkit, ONNX parity, converter,
# training, eval) and Playwright (the app in headless Chromium on WebGPU and wasm).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_system_packages || exit 2
ensure_node_modules || exit 2
export OMP_WAIT_POLICY=PASSIVE

passed=0 failed=0 failures=()
suite() {
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then passed=$((passed + 1)); echo "=== $name ok ($((SECONDS - t0)) s)"
  else failed=$((failed + 1)); failures+=("$name"); echo "=== $name FAILED ($((SECONDS - t0)) s)"; fi
}
suite typecheck npx tsc -b
suite lint npm run --silent lint
suite vitest npx vitest run
suite pytest /usr/bin/python3 -m pytest -q tests/python
suite e2e npx playwright test
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
