#!/usr/bin/env bash
# Copies the 375 px screenshots of the journeys that the member guide shows
# (docs/member-guide.md) to docs/images/member-guide/. Run after run.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/tests/browser/output/journeys"
dest="$root/docs/images/member-guide"
mkdir -p "$dest"

# journey label → file name in the guide
while read -r journey label name; do
  [ -z "$journey" ] && continue
  src="$(ls "$out/$journey/"*"-$label-375.png" 2>/dev/null | head -n1 || true)"
  if [ -z "$src" ]; then
    echo "missing: $journey $label" >&2
    continue
  fi
  cp "$src" "$dest/$name.png"
done <<'EOF'
totp login 01-login
totp birthdate 02-birthdate
totp terms 03-terms
totp email 04-email
totp email-sent 05-email-sent
resume email-verified 05-email-verified
totp method 06-method
totp new-password 07-new-password
passkey enroll-passkey 08-enroll-passkey
totp enroll-totp 08-enroll-totp
email enroll-email 08-enroll-email
totp relying-party 09-done
passkey mfa-passkey 10-mfa-passkey
totp mfa-totp 10-mfa-totp
email mfa-email 10-mfa-email
forgot-password forgot-password 20-forgot-password
forgot-password recovery-sent 21-recovery-sent
forgot-password reset-password 22-reset-password
forgot-password reset-done 23-reset-done
forgot-userid forgot-userid 24-forgot-userid
expired-initial-password login-expired 25-expired
EOF
# Smaller files for the repository: 64 colours are plenty for these pages (needs Pillow;
# e.g. PYTHON=/path/to/venv/bin/python). Without it the screenshots are kept as they are.
py="${PYTHON:-python3}"
if "$py" -c "import PIL" 2>/dev/null; then
  "$py" - "$dest" <<'PY'
import glob, sys
from PIL import Image
for p in glob.glob(sys.argv[1] + "/*.png"):
    Image.open(p).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(p, optimize=True)
PY
fi
du -sh "$dest"
