#!/usr/bin/env bash
# Browser tests of second factors (passkeys on this device and through a phone, authenticator
# apps, email one-time passwords, the account page) in headless Chromium with CDP virtual
# authenticators. Assumes Chromium (/usr/bin/chromium or $CHROMIUM) and tests/browser/node_modules
# exist; builds and starts its own IdP on a free port, stops it at the end. Screenshots go to
# tests/browser/output/factors-*.png.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

(cd "$root" && cargo build --quiet -p kenpo-tests --example factors_idp)
bin="$target/debug/examples/factors_idp"

work="$(mktemp -d)"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$bin" "$port" "$work" >"$work/idp.log" 2>&1 &
pid=$!
cleanup() {
  status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- IdP log (last 40 lines) ---"
    tail -n 40 "$work/idp.log" || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

for _ in $(seq 1 150); do
  if curl -fsS "http://localhost:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "the IdP did not start"; exit 1; fi
  sleep 0.2
done
curl -fsS "http://localhost:$port/readyz" >/dev/null

KENPO_IDP_URL="http://localhost:$port" KENPO_OUTBOX="$work/outbox" \
  node "$here/factors.test.mjs"
