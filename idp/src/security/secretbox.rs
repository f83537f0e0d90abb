//! Encryption at rest for signing keys and TOTP secrets: AES-256-GCM (ring) under keys from
//! configuration. Each ciphertext names the key that sealed it, so keys rotate without a
//! flag day: put a new key first in `secrets.keys`, keep the old ones until `idp secrets
//! reseal` has re-encrypted everything. The associated data binds a ciphertext to its row
//! (e.g. `totp:<member id>`), so a value copied into another row does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("key must be `ID:BASE64` of 32 bytes: {0}")]
    BadKey(String),
    #[error("no key `{0}` is configured to open this value")]
    UnknownKey(String),
    #[error("value does not open (wrong key or tampered)")]
    Open,
    #[error("key file {0}: {1}")]
    KeyFile(String, String),
}

/// Parses `ID:BASE64` into its id and 32 key bytes.
pub fn parse_key(s: &str) -> Result<(String, [u8; 32]), SecretBoxError> {
    let (id, b64) = s
        .split_once(':')
        .ok_or_else(|| SecretBoxError::BadKey("missing `ID:`".into()))?;
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(SecretBoxError::BadKey(
            "the ID must be 1–32 letters, digits, - or _".into(),
        ));
    }
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|e| SecretBoxError::BadKey(e.to_string()))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| SecretBoxError::BadKey("not 32 bytes".into()))?;
    Ok((id.to_string(), key))
}

/// A fresh `ID:BASE64` key.
pub fn generate_key(id: &str) -> String {
    let mut key = [0u8; 32];
    // SystemRandom only fails if the OS has no randomness, in which case nothing can work.
    SystemRandom::new()
        .fill(&mut key)
        .expect("operating system randomness");
    format!("{id}:{}", STANDARD.encode(key))
}

pub struct SecretBox {
    keys: Vec<(String, LessSafeKey, [u8; 32])>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _, _)| id.as_str()).collect();
        f.debug_struct("SecretBox").field("key_ids", &ids).finish()
    }
}

impl SecretBox {
    pub fn new(keys: &[String]) -> Result<Self, SecretBoxError> {
        let mut out = Vec::new();
        for k in keys {
            let (id, bytes) = parse_key(k)?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| SecretBoxError::BadKey(id.clone()))?;
            out.push((id, LessSafeKey::new(unbound), bytes));
        }
        if out.is_empty() {
            return Err(SecretBoxError::BadKey("no key configured".into()));
        }
        Ok(Self {
            keys: out,
            rng: SystemRandom::new(),
        })
    }

    /// Reads the key file, creating it (mode 0600) with a fresh key on first start.
    pub fn from_key_file(path: &Path) -> Result<Self, SecretBoxError> {
        let err =
            |e: std::io::Error| SecretBoxError::KeyFile(path.display().to_string(), e.to_string());
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let key = generate_key("k1");
            write_private(path, &key).map_err(err)?;
        }
        let text = std::fs::read_to_string(path).map_err(err)?;
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        Self::new(&keys)
    }

    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let (id, key, _) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("operating system randomness");
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .expect("AES-GCM sealing of an in-memory buffer");
        let mut out = Vec::with_capacity(1 + id.len() + NONCE_LEN + buf.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let id_len = *sealed.first().ok_or(SecretBoxError::Open)? as usize;
        let id = sealed.get(1..1 + id_len).ok_or(SecretBoxError::Open)?;
        let id = std::str::from_utf8(id).map_err(|_| SecretBoxError::Open)?;
        let nonce = sealed
            .get(1 + id_len..1 + id_len + NONCE_LEN)
            .ok_or(SecretBoxError::Open)?;
        let body = sealed
            .get(1 + id_len + NONCE_LEN..)
            .ok_or(SecretBoxError::Open)?;
        let (_, key, _) = self
            .keys
            .iter()
            .find(|(k, _, _)| k == id)
            .ok_or_else(|| SecretBoxError::UnknownKey(id.into()))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretBoxError::Open)?;
        let mut buf = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| SecretBoxError::Open)?;
        Ok(plain.to_vec())
    }

    /// Whether a value was sealed with an older key (re-seal it).
    pub fn is_stale(&self, sealed: &[u8]) -> bool {
        let first = self.keys[0].0.as_bytes();
        sealed.first().map(|l| *l as usize) != Some(first.len())
            || sealed.get(1..1 + first.len()) != Some(first)
    }

    /// A 32-byte key for another purpose (cookies, CSRF), derived from the first key with HKDF.
    pub fn derive(&self, info: &'static str) -> [u8; 32] {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"kenpo");
        let prk = salt.extract(&self.keys[0].2);
        let info = [info.as_bytes()];
        let okm = prk
            .expand(&info, ring::hkdf::HKDF_SHA256)
            .expect("HKDF output of one hash length");
        let mut out = [0u8; 32];
        okm.fill(&mut out).expect("HKDF fill of one hash length");
        out
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(
        f,
        "# kenpo IdP secret key (encrypts signing keys and TOTP secrets). Back it up; keep it private."
    )?;
    writeln!(f, "{contents}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_rotation() {
        let old = generate_key("old");
        let new = generate_key("new");
        let a = SecretBox::new(std::slice::from_ref(&old)).unwrap();
        let sealed = a.seal("totp:1", b"secret");
        assert_eq!(a.open("totp:1", &sealed).unwrap(), b"secret");
        assert!(
            matches!(a.open("totp:2", &sealed), Err(SecretBoxError::Open)),
            "bound to its row"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(a.open("totp:1", &tampered).is_err());

        let b = SecretBox::new(&[new.clone(), old]).unwrap();
        assert_eq!(
            b.open("totp:1", &sealed).unwrap(),
            b"secret",
            "old keys still open"
        );
        assert!(b.is_stale(&sealed));
        assert!(!b.is_stale(&b.seal("x", b"y")));
        let c = SecretBox::new(&[new]).unwrap();
        assert!(matches!(
            c.open("totp:1", &sealed),
            Err(SecretBoxError::UnknownKey(_))
        ));
        assert!(c.open("totp:1", &[]).is_err());
        assert!(c.open("totp:1", &[200, 1, 2]).is_err());
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(parse_key("nokey").is_err());
        assert!(parse_key("k:AAAA").is_err());
        assert!(parse_key(&generate_key("k")).is_ok());
    }
}
