#!/usr/bin/env bash
# Browser journeys of first login and recovery: starts an SMTP server (lib/smtp-sink.mjs) and
# its own IdP (SQLite, in-process state) with the journey members imported by the staff CLI,
# runs journeys.mjs in headless Chromium, stops both. Needs Chromium (/usr/bin/chromium, or
# $CHROMIUM) and tests/browser/node_modules (npm ci); builds the IdP if $JOURNEY_IDP_BIN is not
# given. Screenshots: tests/browser/output/journeys/<journey>/. Arguments: journey names to run
# only some (passkey passkey-hybrid totp email resume forgot-password forgot-userid
# expired-initial-password).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kenpo-target}"
idp="${JOURNEY_IDP_BIN:-}"
if [ -z "$idp" ]; then
  (cd "$root" && cargo build -q -p kenpo-idp --bin idp)
  idp="$CARGO_TARGET_DIR/debug/idp"
fi
[ -d "$here/../node_modules/playwright-core" ] || { echo "run npm ci in tests/browser first" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
idp_port="$(free_port)"; smtp_port="$(free_port)"; rp_port="$(free_port)"
contact="kenpo-web@example.jp"
client_id="journey-rp"
client_secret="journey-client-secret-0123456789abcdefghij"

cat >"$work/idp.toml" <<EOF
[server]
bind = "127.0.0.1:$idp_port"
issuer = "http://localhost:$idp_port"

[database]
url = "sqlite://$work/idp.sqlite3"

[secrets]
key_file = "$work/secret.key"

[mail]
smtp_url = "smtp://127.0.0.1:$smtp_port"
outbox_dir = "$work/outbox"

[union]
contact_email = "$contact"

[mfa]
# A member may ask for another mailed code after this long (60 s by default); the journeys
# sign in again right after enrolling, so they would wait a minute each time.
email_otp_resend_secs = 5

[log]
level = "warn"

[[clients]]
client_id = "$client_id"
name = "組合のお知らせ（テスト）"
secret = "$client_secret"
redirect_uris = ["http://localhost:$rp_port/cb"]
post_logout_redirect_uris = ["http://localhost:$rp_port/signed-out"]
EOF

node "$here/lib/smtp-sink.mjs" "$smtp_port" "$work/mail" &
pids+=($!)

# The members, imported as staff do; one of them 91 days ago (its initial password expired).
node "$here/members.mjs" >"$work/members.csv"
"$idp" -c "$work/idp.toml" members import "$work/members.csv"
python3 - "$work/idp.sqlite3" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE members SET initial_password_since = initial_password_since - 91 * 86400 WHERE user_id = 'kp1006'")
db.commit()
EOF

"$idp" -c "$work/idp.toml" serve >"$work/idp.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://localhost:$idp_port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://localhost:$idp_port/readyz" >/dev/null || { cat "$work/idp.log"; exit 1; }

out="$root/tests/browser/output/journeys"
mkdir -p "$out"
status=0
(cd "$here/.." && ISSUER="http://localhost:$idp_port" RP_PORT="$rp_port" CLIENT_ID="$client_id" \
  CLIENT_SECRET="$client_secret" MAIL_DIR="$work/mail" OUT_DIR="$out" CONTACT_EMAIL="$contact" \
  node journeys/journeys.mjs "$@") || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- IdP log (last 40 lines)"
  tail -n 40 "$work/idp.log"
fi
exit "$status"
