#!/usr/bin/env bash
# The notice portal in headless Chromium (playwright-core + axe-core from tests/browser,
# `npm ci` there first).
#
# With KENPO_BROWSER_IDP_URL and KENPO_BROWSER_PORTAL_URL set, tests those running services
# (KENPO_BROWSER_OUTBOX_DIR: the IdP's mail outbox, where the demo member's one-time codes
# arrive). Otherwise starts `kenpo` (IdP + portal with demo data) on free ports in a
# scratch folder, building the binary if $PORTAL_BIN is not given. Screenshots:
# tests/browser/output/portal/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target}"
[ -d "$here/../node_modules/playwright-core" ] || { echo "run npm ci in tests/browser first" >&2; exit 2; }

pid=""
scratch=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

if [ -z "${KENPO_BROWSER_IDP_URL:-}" ] || [ -z "${KENPO_BROWSER_PORTAL_URL:-}" ]; then
  bin="${PORTAL_BIN:-}"
  if [ -z "$bin" ]; then
    (cd "$root" && cargo build -q -p kenpo-embedded --bin kenpo)
    bin="$CARGO_TARGET_DIR/debug/kenpo"
  fi
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
  idp_port="$(free_port)"; portal_port="$(free_port)"
  scratch="$(mktemp -d)"
  export KENPO_BROWSER_IDP_URL="http://localhost:$idp_port" KENPO_BROWSER_PORTAL_URL="http://localhost:$portal_port"
  export KENPO_BROWSER_OUTBOX_DIR="$scratch/data/outbox"
  (
    cd "$scratch"
    KENPO_IDP_SERVER__BIND="127.0.0.1:$idp_port" KENPO_IDP_SERVER__ISSUER="$KENPO_BROWSER_IDP_URL" \
    KENPO_PORTAL_SERVER__BIND="127.0.0.1:$portal_port" KENPO_PORTAL_SERVER__BASE_URL="$KENPO_BROWSER_PORTAL_URL" \
      exec "$bin"
  ) >"$scratch/services.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    if curl -fsS "$KENPO_BROWSER_PORTAL_URL/readyz" >/dev/null 2>&1 && curl -fsS "$KENPO_BROWSER_IDP_URL/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$scratch/services.log"; exit 1; fi
    sleep 0.3
  done
fi
export KENPO_BROWSER_OUTBOX_DIR="${KENPO_BROWSER_OUTBOX_DIR:-$root/data/outbox}"
export KENPO_BROWSER_SCREENSHOTS="${KENPO_BROWSER_SCREENSHOTS:-$root/tests/browser/output/portal}"
if ! node "$here/portal.test.mjs"; then
  if [ -n "$scratch" ]; then echo "--- services log"; tail -n 60 "$scratch/services.log"; fi
  exit 1
fi
