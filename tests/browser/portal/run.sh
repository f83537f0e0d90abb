#!/usr/bin/env bash
# The notice portal in headless Chromium (Playwright + axe-core).
#
# With KENPO_IDP_URL and KENPO_PORTAL_URL set, tests the running services (KENPO_OUTBOX_DIR: the
# IdP's mail outbox, where the demo member's one-time codes arrive). Otherwise starts
# `portal demo` (IdP + portal with demo data) on ports 18080/18081 in a scratch folder, using
# the binary from $CARGO_TARGET_DIR (built with `cargo build --workspace --bins`).
# Screenshots go to tests/browser/output/portal/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

# playwright-core and @axe-core/playwright: from tests/browser/node_modules if the shared
# package has them, else installed here.
if ! (cd "$here" && node -e "require.resolve('playwright-core'); require.resolve('@axe-core/playwright')" 2>/dev/null); then
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error)
fi

pid=""
scratch=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

if [ -z "${KENPO_IDP_URL:-}" ] || [ -z "${KENPO_PORTAL_URL:-}" ]; then
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/portal"
  if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build -p kenpo-portal --bin portal)
  fi
  scratch="$(mktemp -d)"
  export KENPO_IDP_URL="http://localhost:18080" KENPO_PORTAL_URL="http://localhost:18081"
  export KENPO_OUTBOX_DIR="$scratch/data/outbox"
  (
    cd "$scratch"
    KENPO_IDP_SERVER__BIND=127.0.0.1:18080 KENPO_IDP_SERVER__ISSUER="$KENPO_IDP_URL" \
    KENPO_PORTAL_SERVER__BIND=127.0.0.1:18081 KENPO_PORTAL_SERVER__BASE_URL="$KENPO_PORTAL_URL" \
      exec "$bin" demo
  ) >"$scratch/services.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$KENPO_PORTAL_URL/readyz" >/dev/null 2>&1 && curl -fsS "$KENPO_IDP_URL/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$scratch/services.log"; exit 1; fi
    sleep 0.3
  done
fi
export KENPO_OUTBOX_DIR="${KENPO_OUTBOX_DIR:-$root/data/outbox}"
export KENPO_SCREENSHOTS="${KENPO_SCREENSHOTS:-$root/tests/browser/output/portal}"
if ! node "$here/run.mjs"; then
  if [ -n "$scratch" ]; then echo "--- services log"; tail -n 60 "$scratch/services.log"; fi
  exit 1
fi
