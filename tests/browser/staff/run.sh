#!/usr/bin/env bash
# The staff console in headless Chromium (playwright-core + axe-core from tests/browser, `npm ci`
# there first): starts `kenpo` (IdP + portal with demo data, demo administrator) on free ports
# in a scratch folder, building the binary if $KENPO_BIN is not given, runs staff.test.mjs,
# stops it. Screenshots: tests/browser/output/staff/ (the staff guide's images are copied
# from there by `STAFF_GUIDE_IMAGES=1`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target}"
[ -d "$here/../node_modules/playwright-core" ] || { echo "run npm ci in tests/browser first" >&2; exit 2; }

bin="${KENPO_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -q -p kenpo-embedded --bin kenpo)
  bin="$CARGO_TARGET_DIR/debug/kenpo"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
idp_port="$(free_port)"; portal_port="$(free_port)"
scratch="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
export KENPO_BROWSER_IDP_URL="http://localhost:$idp_port" KENPO_BROWSER_PORTAL_URL="http://localhost:$portal_port"
export KENPO_BROWSER_OUTBOX_DIR="$scratch/data/outbox"
(
  cd "$scratch"
  KENPO_IDP_SERVER__BIND="127.0.0.1:$idp_port" KENPO_IDP_SERVER__ISSUER="$KENPO_BROWSER_IDP_URL" \
  KENPO_PORTAL_SERVER__BIND="127.0.0.1:$portal_port" KENPO_PORTAL_SERVER__BASE_URL="$KENPO_BROWSER_PORTAL_URL" \
  KENPO_IDP_LOG__LEVEL=warn KENPO_PORTAL_LOG__LEVEL=warn exec "$bin"
) >"$scratch/services.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  if curl -fsS "$KENPO_BROWSER_PORTAL_URL/readyz" >/dev/null 2>&1 && curl -fsS "$KENPO_BROWSER_IDP_URL/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$scratch/services.log"; exit 1; fi
  sleep 0.3
done
export KENPO_BROWSER_SCREENSHOTS="${KENPO_BROWSER_SCREENSHOTS:-$root/tests/browser/output/staff}"
rm -rf "$KENPO_BROWSER_SCREENSHOTS"
if ! node "$here/staff.test.mjs"; then
  echo "--- services log"; tail -n 60 "$scratch/services.log"
  exit 1
fi
if [ "${STAFF_GUIDE_IMAGES:-}" = "1" ]; then
  mkdir -p "$root/docs/images/staff-guide"
  cp "$KENPO_BROWSER_SCREENSHOTS"/*-1280.png "$root/docs/images/staff-guide/"
fi
