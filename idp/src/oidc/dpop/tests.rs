use super::*;
use jsonwebtoken::{EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::json;

const URL: &str = "https://idp.example/userinfo";
const NOW: i64 = 1_800_000_000;
const W: Window = Window {
    max_age: 60,
    max_skew: 5,
};

struct Key {
    enc: EncodingKey,
    jwk: Value,
    alg: Algorithm,
}

fn es256() -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let p = pair.public_key().as_ref();
    Key {
        enc: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": b64url(&p[1..33]), "y": b64url(&p[33..65])}),
        alg: Algorithm::ES256,
    }
}

fn ed25519() -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    Key {
        enc: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())}),
        alg: Algorithm::EdDSA,
    }
}

/// A proof with any header: the signing input assembled here, signed by jsonwebtoken (its
/// typed `Header` would drop members such as a private key's `d`).
fn sign_with(k: &Key, header_extra: &[(&str, Value)], claims: &Value) -> String {
    let mut h = json!({"alg": format!("{:?}", k.alg), "typ": "dpop+jwt", "jwk": k.jwk});
    for (name, v) in header_extra {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(*name);
        } else {
            h[*name] = v.clone();
        }
    }
    let input = format!(
        "{}.{}",
        b64url(h.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k.enc, k.alg).unwrap();
    format!("{input}.{sig}")
}

fn claims(extra: &[(&str, Value)]) -> Value {
    let mut c = json!({"htm": "GET", "htu": URL, "iat": NOW, "jti": "j-1", "ath": ath("tok")});
    for (name, v) in extra {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(*name);
        } else {
            c[*name] = v.clone();
        }
    }
    c
}

fn check(p: &str) -> Result<Proof, DpopError> {
    check_proof(p, "GET", URL, Some("tok"), NOW, W)
}

#[test]
fn a_good_proof_passes_with_each_algorithm_and_names_its_key() {
    for k in [es256(), ed25519()] {
        let p = check(&sign_with(&k, &[], &claims(&[]))).unwrap();
        let jwk: Jwk = serde_json::from_value(k.jwk.clone()).unwrap();
        assert_eq!(p.jkt, jwk.thumbprint(ThumbprintHash::SHA256));
        assert_eq!(p.jkt.len(), 43);
        assert_eq!(p.jti, "j-1");
    }
    // RFC 9864's name for the same algorithm (what openid-client signs Ed25519 keys with).
    let ed = ed25519();
    assert!(check(&sign_with(&ed, &[("alg", json!("Ed25519"))], &claims(&[]))).is_ok());
    // htu compares without query and fragment, after normalisation.
    let k = es256();
    let p = sign_with(
        &k,
        &[],
        &claims(&[("htu", json!("HTTPS://IDP.example:443/userinfo"))]),
    );
    assert!(
        check_proof(
            &p,
            "GET",
            "https://idp.example/userinfo?x=1",
            Some("tok"),
            NOW,
            W
        )
        .is_ok()
    );
    // At the token endpoint there is no access token: no ath needed.
    let p = sign_with(&k, &[], &claims(&[("ath", Value::Null)]));
    assert!(check_proof(&p, "GET", URL, None, NOW, W).is_ok());
}

#[test]
fn the_rfc_7638_example_thumbprint() {
    // RFC 7638 §3.1.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint(ThumbprintHash::SHA256),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn every_refusal() {
    let k = es256();
    let good = claims(&[]);
    let cases: Vec<(DpopError, String)> = vec![
        (DpopError::Malformed, "not.a-jws".into()),
        (DpopError::Malformed, "a.b".into()),
        (DpopError::Malformed, "x".repeat(MAX_PROOF_LEN + 1)),
        (
            DpopError::Typ,
            sign_with(&k, &[("typ", json!("JWT"))], &good),
        ),
        (
            DpopError::Typ,
            sign_with(&k, &[("typ", Value::Null)], &good),
        ),
        (
            DpopError::Key,
            sign_with(&k, &[("jwk", Value::Null)], &good),
        ),
        (DpopError::Key, {
            let mut jwk = k.jwk.clone();
            jwk["d"] = json!("c2VjcmV0");
            sign_with(&k, &[("jwk", jwk)], &good)
        }),
        // An EC key claiming EdDSA, and a key of another curve.
        (DpopError::Key, {
            let ed = ed25519();
            sign_with(&ed, &[("jwk", k.jwk.clone())], &good)
        }),
        (DpopError::Key, {
            let mut jwk = k.jwk.clone();
            jwk["crv"] = json!("P-384");
            sign_with(&k, &[("jwk", jwk)], &good)
        }),
        // Signed by another key than the one in the header.
        (
            DpopError::Signature,
            sign_with(&k, &[("jwk", es256().jwk)], &good),
        ),
        (
            DpopError::Htm,
            sign_with(&k, &[], &claims(&[("htm", json!("POST"))])),
        ),
        (
            DpopError::Htm,
            sign_with(&k, &[], &claims(&[("htm", Value::Null)])),
        ),
        (
            DpopError::Htu,
            sign_with(
                &k,
                &[],
                &claims(&[("htu", json!("https://idp.example/token"))]),
            ),
        ),
        (
            DpopError::Htu,
            sign_with(
                &k,
                &[],
                &claims(&[("htu", json!("https://evil.example/userinfo"))]),
            ),
        ),
        (
            DpopError::Htu,
            sign_with(&k, &[], &claims(&[("htu", json!("/userinfo"))])),
        ),
        (
            DpopError::Iat,
            sign_with(&k, &[], &claims(&[("iat", json!(NOW - 61))])),
        ),
        (
            DpopError::Iat,
            sign_with(&k, &[], &claims(&[("iat", json!(NOW + 6))])),
        ),
        (
            DpopError::Iat,
            sign_with(&k, &[], &claims(&[("iat", json!("now"))])),
        ),
        (
            DpopError::Iat,
            sign_with(&k, &[], &claims(&[("iat", Value::Null)])),
        ),
        (
            DpopError::Jti,
            sign_with(&k, &[], &claims(&[("jti", Value::Null)])),
        ),
        (
            DpopError::Jti,
            sign_with(&k, &[], &claims(&[("jti", json!(""))])),
        ),
        (
            DpopError::AthMissing,
            sign_with(&k, &[], &claims(&[("ath", Value::Null)])),
        ),
        (
            DpopError::AthMismatch,
            sign_with(&k, &[], &claims(&[("ath", json!(ath("another token")))])),
        ),
    ];
    for (want, proof) in cases {
        assert_eq!(check(&proof), Err(want.clone()), "{want:?}");
    }
    // The edges of the window are inside it.
    for iat in [NOW - 60, NOW + 5] {
        assert!(check(&sign_with(&k, &[], &claims(&[("iat", json!(iat))]))).is_ok());
    }
    // An algorithm outside the list (HS256 with the key as a secret).
    let hs = jsonwebtoken::encode(
        &{
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some("dpop+jwt".into());
            h
        },
        &good,
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert_eq!(check(&hs), Err(DpopError::Alg));
}

#[test]
fn one_dpop_header_at_most() {
    let mut h = HeaderMap::new();
    assert_eq!(proof_header(&h), Ok(None));
    h.append("dpop", "a.b.c".parse().unwrap());
    assert_eq!(proof_header(&h), Ok(Some("a.b.c")));
    h.append("dpop", "d.e.f".parse().unwrap());
    assert_eq!(proof_header(&h), Err(DpopError::NotOne));
}

#[test]
fn jkt_parameters_are_thumbprints() {
    assert!(valid_jkt("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
    assert!(!valid_jkt("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X"));
    assert!(!valid_jkt("NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_string_is_refused_without_panic(s in "\\PC{0,300}", parts in prop::collection::vec("[A-Za-z0-9_-]{0,60}", 0..5)) {
            for p in [s, parts.join(".")] {
                prop_assert!(check_proof(&p, "GET", URL, Some("tok"), NOW, W).is_err());
            }
        }
    }
}
