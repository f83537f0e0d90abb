//! Token signing keys: RS256 (required by OpenID Connect), ES256 and EdDSA, chosen per client.
//!
//! States of a key: *pending* (published in the JWKS, not yet signing: relying parties'
//! caches learn it before it is used), *active* (signs; the newest active key of its
//! algorithm), *retired* (no longer signs, still published until everything it signed has
//! expired), then deleted. Keys are generated on first start, replaced on a schedule
//! (`keys.rotate_after_days`) and on demand (`idp keys rotate`). Private keys are stored
//! encrypted (`SecretBox`); signing uses ring. Every replica re-reads the set periodically,
//! and the choice of the active key is deterministic.
//!
//! Creating and retiring keys is decided once across replicas: maintenance runs under a
//! database lock (`KeyStore::exclusively`), reads the set, decides ([`plan`], a pure function)
//! and writes in one transaction, so replicas started together on an empty database create
//! one key per algorithm, not one each (each replica would otherwise sign with a key the
//! others do not publish until their next reload). A replica signs only with a key it has
//! just read from the database together with everything it publishes.
//!
//! Threats: a stolen database without the secret key yields no private key; a leaked key is
//! cut off by `keys rotate` (tokens it signed stay valid until they expire: revoke grants too).

use crate::security::secretbox::SecretBox;
use crate::security::tokens::{b64url, b64url_decode, new_id};
use crate::store::keys::{KeyRow, KeyStore};
use crate::store::{Db, StoreError};
use openidconnect::core::{CoreJsonCurveType, CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    Es256,
    EdDsa,
    Rs256,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::Es256, Alg::EdDsa, Alg::Rs256];

    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Rs256 => "RS256",
        }
    }

    pub fn core(self) -> CoreJwsSigningAlgorithm {
        match self {
            Alg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            Alg::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
            Alg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("key material: {0}")]
    Material(String),
    #[error("no active signing key for {0}")]
    NoKey(&'static str),
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private key that signs JWS compact tokens (and ID tokens through openidconnect).
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pair: Pair,
    public_jwk: Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Creates a new key pair; returns it with its PKCS#8 DER (to be sealed and stored).
    pub fn generate(alg: Alg) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let der = match alg {
            Alg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|e| KeyError::Material(e.to_string()))?
                    .as_ref()
                    .to_vec()
            }
            Alg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| KeyError::Material(e.to_string()))?
                .as_ref()
                .to_vec(),
            Alg::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .map_err(|e| KeyError::Material(e.to_string()))?;
                key.to_pkcs8_der()
                    .map_err(|e| KeyError::Material(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let kid = format!("{}-{}", alg.as_str().to_ascii_lowercase(), new_id());
        Ok((SigningKey::from_pkcs8(&kid, alg, &der)?, der))
    }

    pub fn from_pkcs8(kid: &str, alg: Alg, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let bad = |e: &dyn std::fmt::Display| KeyError::Material(format!("{kid}: {e}"));
        let (pair, material) = match alg {
            Alg::Es256 => {
                let p = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|e| bad(&e))?;
                let point = p.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
                let m = json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65])});
                (Pair::Es256(p), m)
            }
            Alg::EdDsa => {
                let p = Ed25519KeyPair::from_pkcs8(der).map_err(|e| bad(&e))?;
                let m =
                    json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(p.public_key().as_ref())});
                (Pair::EdDsa(p), m)
            }
            Alg::Rs256 => {
                let p = RsaKeyPair::from_pkcs8(der).map_err(|e| bad(&e))?;
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(p.public());
                let strip = |b: &[u8]| {
                    b.iter()
                        .skip_while(|x| **x == 0)
                        .copied()
                        .collect::<Vec<u8>>()
                };
                let m = json!({"kty": "RSA", "n": b64url(&strip(&c.n)), "e": b64url(&strip(&c.e))});
                (Pair::Rs256(p), m)
            }
        };
        let mut public_jwk = material;
        public_jwk["kid"] = json!(kid);
        public_jwk["use"] = json!("sig");
        public_jwk["alg"] = json!(alg.as_str());
        Ok(SigningKey {
            kid: kid.to_string(),
            alg,
            pair,
            public_jwk,
            rng,
        })
    }

    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let err = |e: ring::error::Unspecified| KeyError::Material(e.to_string());
        Ok(match &self.pair {
            Pair::Es256(p) => p.sign(&self.rng, message).map_err(err)?.as_ref().to_vec(),
            Pair::EdDsa(p) => p.sign(message).as_ref().to_vec(),
            Pair::Rs256(p) => {
                let mut sig = vec![0u8; p.public().modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(err)?;
                sig
            }
        })
    }

    /// A JWS compact serialisation of `claims` (logout tokens and other non-ID-token JWTs).
    pub fn sign_jwt(&self, typ: Option<&str>, claims: &impl Serialize) -> Result<String, KeyError> {
        let mut header = json!({"alg": self.alg.as_str(), "kid": self.kid});
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Material(e.to_string()))?;
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(&payload)
        );
        let sig = self.sign_bytes(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url(&sig)))
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != self.alg.core() {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        self.sign_bytes(message)
            .map_err(|e| SigningError::Other(e.to_string()))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let kid = Some(JsonWebKeyId::new(self.kid.clone()));
        let field = |name: &str| {
            self.public_jwk[name]
                .as_str()
                .and_then(b64url_decode)
                .unwrap_or_default()
        };
        match self.alg {
            Alg::Es256 => {
                CoreJsonWebKey::new_ec(field("x"), field("y"), CoreJsonCurveType::P256, kid)
            }
            Alg::EdDsa => CoreJsonWebKey::new_okp(field("x"), CoreJsonCurveType::Ed25519, kid),
            Alg::Rs256 => CoreJsonWebKey::new_rsa(field("n"), field("e"), kid),
        }
    }
}

/// Verifies a signature made by one of our published keys (for `id_token_hint`).
fn verify_with_jwk(jwk: &Value, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
    let field = |name: &str| jwk[name].as_str().and_then(b64url_decode);
    match alg {
        Alg::Es256 => {
            let (Some(x), Some(y)) = (field("x"), field("y")) else {
                return false;
            };
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok()
        }
        Alg::EdDsa => field("x").is_some_and(|x| {
            signature::UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok()
        }),
        Alg::Rs256 => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                return false;
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok()
        }
    }
}

/// What one replica currently signs with and publishes.
#[derive(Default)]
struct KeySet {
    active: HashMap<Alg, Arc<SigningKey>>,
    published: HashMap<String, (Alg, Value)>,
    jwks: Arc<String>,
}

/// The replica's view of the signing keys, refreshed from the database.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<KeySet>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing")
    }
}

/// Rotation policy, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    pub rotate_after_secs: i64,
    pub prepublish_secs: i64,
    /// How long a retired key stays published: the longest lifetime of anything it signed.
    pub retire_grace_secs: i64,
}

impl KeyRing {
    pub fn empty() -> KeyRing {
        KeyRing {
            inner: Arc::new(RwLock::new(KeySet {
                jwks: Arc::new("{\"keys\":[]}".into()),
                ..Default::default()
            })),
        }
    }

    /// The active key for `alg`.
    pub fn signer(&self, alg: Alg) -> Result<Arc<SigningKey>, KeyError> {
        let set = self.inner.read().unwrap_or_else(|p| p.into_inner());
        set.active
            .get(&alg)
            .cloned()
            .ok_or(KeyError::NoKey(alg.as_str()))
    }

    /// The JWKS document (cached serialisation).
    pub fn jwks_json(&self) -> Arc<String> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .jwks
            .clone()
    }

    /// Checks a compact JWS made by one of our published keys and returns its payload.
    /// Expiry is not checked here (an expired ID token is still a valid logout hint).
    pub fn verify_own_jwt(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
        let kid = header["kid"].as_str()?;
        let alg = Alg::parse(header["alg"].as_str()?)?;
        let set = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let (key_alg, jwk) = set.published.get(kid)?;
        if *key_alg != alg {
            return None;
        }
        let message = format!("{h}.{p}");
        if !verify_with_jwk(jwk, alg, message.as_bytes(), &b64url_decode(s)?) {
            return None;
        }
        serde_json::from_slice(&b64url_decode(p)?).ok()
    }

    /// Brings the stored keys in line with the policy (first keys, scheduled rotation,
    /// retirement, deletion) under the maintenance lock, then reloads this replica's view.
    pub async fn maintain(
        &self,
        db: &Db,
        sbox: &Arc<SecretBox>,
        policy: RotationPolicy,
        now: i64,
    ) -> Result<(), KeyError> {
        let sbox2 = sbox.clone();
        KeyStore::new(db.clone())
            .exclusively(move |c| {
                let rows = KeyStore::load(c)?;
                for action in plan(&rows, policy, now) {
                    apply(c, &sbox2, action, now)?;
                }
                KeyStore::delete_expired_rows(c, now)?;
                Ok::<_, KeyError>(())
            })
            .await?;
        self.reload(db, sbox, now).await
    }

    /// Starts a new key of each algorithm at once and retires the current ones (`keys rotate`).
    pub async fn rotate_now(
        db: &Db,
        sbox: &Arc<SecretBox>,
        algs: &[Alg],
        policy: RotationPolicy,
        now: i64,
    ) -> Result<Vec<String>, KeyError> {
        let (sbox, algs) = (sbox.clone(), algs.to_vec());
        KeyStore::new(db.clone())
            .exclusively(move |c| {
                let rows = KeyStore::load(c)?;
                let mut created = Vec::new();
                for alg in algs {
                    for old in rows
                        .iter()
                        .filter(|r| r.alg == alg.as_str() && r.retired_at.is_none())
                    {
                        KeyStore::retire_row(c, &old.kid, now, now + policy.retire_grace_secs)?;
                    }
                    created.push(create_key(
                        c,
                        &sbox,
                        alg,
                        now,
                        now - CLOCK_SKEW_TOLERANCE_SECS,
                    )?);
                }
                Ok(created)
            })
            .await
    }

    /// How many keys this replica signs with and publishes (metrics).
    pub fn counts(&self) -> (usize, usize) {
        let set = self.inner.read().unwrap_or_else(|p| p.into_inner());
        (set.active.len(), set.published.len())
    }

    /// Reloads the published and active keys from the database.
    pub async fn reload(&self, db: &Db, sbox: &Arc<SecretBox>, now: i64) -> Result<(), KeyError> {
        let rows = KeyStore::new(db.clone()).all().await?;
        let mut set = KeySet::default();
        let mut keys_json = Vec::new();
        let mut newest: HashMap<Alg, &KeyRow> = HashMap::new();
        for row in &rows {
            let Some(alg) = Alg::parse(&row.alg) else {
                continue;
            };
            if row.expires_at.is_some_and(|e| e <= now) {
                continue;
            }
            let jwk: Value = serde_json::from_str(&row.public_jwk)
                .map_err(|e| KeyError::Material(e.to_string()))?;
            keys_json.push(jwk.clone());
            set.published.insert(row.kid.clone(), (alg, jwk));
            if row.retired_at.is_none() && row.activates_at <= now {
                let better = newest
                    .get(&alg)
                    .is_none_or(|cur| (row.activates_at, &row.kid) > (cur.activates_at, &cur.kid));
                if better {
                    newest.insert(alg, row);
                }
            }
        }
        for (alg, row) in newest {
            let der = sbox
                .open(&format!("signing-key:{}", row.kid), &row.private_key_enc)
                .map_err(|e| KeyError::Material(e.to_string()))?;
            set.active
                .insert(alg, Arc::new(SigningKey::from_pkcs8(&row.kid, alg, &der)?));
        }
        set.jwks = Arc::new(json!({ "keys": keys_json }).to_string());
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = set;
        Ok(())
    }
}

/// Keys that must sign at once (the first of an algorithm, `keys rotate`) are dated this far
/// back: a replica whose clock is behind the one that created the key would otherwise find
/// no active key (and stop being ready) until its own clock caught up. Activation times only
/// order keys, so dating one back costs nothing.
pub const CLOCK_SKEW_TOLERANCE_SECS: i64 = kenpo_shared::clock::REPLICA_SKEW_SECS;

/// A change to the stored keys decided by [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    Create {
        alg: Alg,
        activates_at: i64,
    },
    Retire {
        kid: String,
        at: i64,
        expires_at: i64,
    },
}

/// What maintenance must change, given every stored key: per algorithm, a first key when there
/// is none; the retirement of keys that were active beside the newest one; a successor,
/// published `prepublish_secs` before it starts to sign, when the active key is due.
pub fn plan(rows: &[KeyRow], policy: RotationPolicy, now: i64) -> Vec<KeyAction> {
    let mut actions = Vec::new();
    for alg in Alg::ALL {
        let mine: Vec<&KeyRow> = rows.iter().filter(|r| r.alg == alg.as_str()).collect();
        let live: Vec<&&KeyRow> = mine
            .iter()
            .filter(|r| r.retired_at.is_none() && r.activates_at <= now)
            .collect();
        let newest = live.iter().max_by_key(|r| (r.activates_at, r.kid.clone()));
        let pending = mine
            .iter()
            .any(|r| r.retired_at.is_none() && r.activates_at > now);
        match newest {
            None if !pending => actions.push(KeyAction::Create {
                alg,
                activates_at: now - CLOCK_SKEW_TOLERANCE_SECS,
            }),
            Some(active) => {
                for old in live.iter().filter(|r| r.kid != active.kid) {
                    let at = active.activates_at.max(old.activates_at);
                    actions.push(KeyAction::Retire {
                        kid: old.kid.clone(),
                        at,
                        expires_at: at + policy.retire_grace_secs,
                    });
                }
                let due = active.activates_at + policy.rotate_after_secs;
                if policy.rotate_after_secs > 0 && !pending && now >= due - policy.prepublish_secs {
                    actions.push(KeyAction::Create {
                        alg,
                        activates_at: due.max(now),
                    });
                }
            }
            None => {}
        }
    }
    actions
}

fn apply(
    c: &mut crate::store::DbConn,
    sbox: &SecretBox,
    action: KeyAction,
    now: i64,
) -> Result<(), KeyError> {
    match action {
        KeyAction::Create { alg, activates_at } => {
            create_key(c, sbox, alg, now, activates_at)?;
        }
        KeyAction::Retire {
            kid,
            at,
            expires_at,
        } => KeyStore::retire_row(c, &kid, at, expires_at)?,
    }
    Ok(())
}

/// Generates and stores a key (inside the maintenance transaction, on a blocking thread).
fn create_key(
    c: &mut crate::store::DbConn,
    sbox: &SecretBox,
    alg: Alg,
    now: i64,
    activates_at: i64,
) -> Result<String, KeyError> {
    let (key, der) = SigningKey::generate(alg)?;
    let sealed = sbox.seal(&format!("signing-key:{}", key.kid), &der);
    KeyStore::insert_row(
        c,
        &KeyRow {
            kid: key.kid.clone(),
            alg: alg.as_str().into(),
            public_jwk: key.public_jwk().to_string(),
            private_key_enc: sealed,
            created_at: now,
            activates_at,
            retired_at: None,
            expires_at: None,
        },
    )?;
    tracing::info!(kid = %key.kid, alg = alg.as_str(), activates_at, "signing key created");
    Ok(key.kid)
}

#[cfg(test)]
mod tests;
