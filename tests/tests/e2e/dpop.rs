//! Pushed authorization requests (RFC 9126) and DPoP (RFC 9449), driven by an independent
//! client: the openidconnect crate for the flow (authorization parameters, code exchange, ID
//! token verification), jsonwebtoken (its typed `Header` with a `jwk`) for the proofs, ring and
//! rsa for the keys, and an RFC 7638 thumbprint computed here with serde_json and sha2.
//! Every refusal is asserted with its exact error.

use crate::support::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CB: &str = "https://rp.example/cb";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A client's DPoP key pair.
#[derive(Clone)]
pub struct DpopKey {
    enc: EncodingKey,
    jwk: Value,
    alg: Algorithm,
}

impl DpopKey {
    pub fn new(alg: &str) -> DpopKey {
        let rng = ring::rand::SystemRandom::new();
        match alg {
            "ES256" => {
                let pkcs8 =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                    &rng,
                )
                .unwrap();
                let p = pair.public_key().as_ref();
                DpopKey {
                    enc: EncodingKey::from_ec_der(pkcs8.as_ref()),
                    jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])}),
                    alg: Algorithm::ES256,
                }
            }
            "EdDSA" => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
                DpopKey {
                    enc: EncodingKey::from_ed_der(pkcs8.as_ref()),
                    jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())}),
                    alg: Algorithm::EdDSA,
                }
            }
            "RS256" | "PS256" => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                let der = key.to_pkcs1_der().unwrap();
                DpopKey {
                    enc: EncodingKey::from_rsa_der(der.as_bytes()),
                    jwk: json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())}),
                    alg: if alg == "RS256" {
                        Algorithm::RS256
                    } else {
                        Algorithm::PS256
                    },
                }
            }
            other => panic!("no key for {other}"),
        }
    }

    /// RFC 7638: the required members in lexicographic order, no white space, SHA-256.
    pub fn jkt(&self) -> String {
        let required: &[&str] = match self.jwk["kty"].as_str().unwrap() {
            "EC" => &["crv", "kty", "x", "y"],
            "OKP" => &["crv", "kty", "x"],
            _ => &["e", "kty", "n"],
        };
        let canonical: serde_json::Map<String, Value> = required
            .iter()
            .map(|k| (k.to_string(), self.jwk[*k].clone()))
            .collect();
        b64(&Sha256::digest(
            Value::Object(canonical).to_string().as_bytes(),
        ))
    }

    /// A proof with these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value::<Jwk>(self.jwk.clone()).unwrap());
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }

    /// A proof for `htm` `htu` at `iat`, for `access_token` if any.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64, access_token: Option<&str>) -> String {
        let mut c =
            json!({"htm": htm, "htu": htu, "iat": iat, "jti": uuid::Uuid::new_v4().to_string()});
        if let Some(t) = access_token {
            c["ath"] = json!(b64(&Sha256::digest(t.as_bytes())));
        }
        self.sign(&c)
    }
}

/// Response of a protocol endpoint: status, JSON body, headers.
type Answer = (StatusCode, Value, HeaderMap);

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// A form POST with optional Basic credentials and DPoP proof.
async fn post_form(
    url: &str,
    basic: Option<&str>,
    proof: Option<&str>,
    form: &[(&str, &str)],
) -> Answer {
    let mut r = reqwest::Client::new().post(url).form(form);
    if let Some(id) = basic {
        r = r.basic_auth(id, Some(SECRET));
    }
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    answer(r.send().await.unwrap()).await
}

/// A GET of userinfo with `Authorization: <scheme> <token>` and an optional proof.
async fn userinfo(idp: &TestIdp, scheme: &str, token: &str, proof: Option<&str>) -> Answer {
    let mut r = reqwest::Client::new()
        .get(idp.url("/userinfo"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    answer(r.send().await.unwrap()).await
}

fn challenge(h: &HeaderMap) -> String {
    h.get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The parameters of an authorization request as the openidconnect crate builds it.
fn auth_params(
    rp: &Rp,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> (Vec<(String, String)>, AuthStart) {
    let start = rp.start(scopes, extra);
    let pairs = url::Url::parse(&start.url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    (pairs, start)
}

/// Pushes an authorization request (client_secret_basic when `confidential`).
async fn push(
    idp: &TestIdp,
    client_id: &str,
    confidential: bool,
    pairs: &[(String, String)],
    proof: Option<&str>,
) -> Answer {
    let form: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_form(
        &idp.url("/par"),
        confidential.then_some(client_id),
        proof,
        &form,
    )
    .await
}

fn authorize_url(
    idp: &TestIdp,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut u = url::Url::parse(&idp.url("/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// The code exchange through openidconnect, its HTTP client adding a DPoP proof of `key` for
/// the very request it sends.
async fn exchange_with_dpop(
    idp: &TestIdp,
    rp: &Rp,
    code: &str,
    verifier: &openidconnect::PkceCodeVerifier,
    key: &DpopKey,
) -> Result<openidconnect::core::CoreTokenResponse, String> {
    let http = rp.http.clone();
    let key = key.clone();
    let now = idp.state.now();
    let client = move |mut req: openidconnect::HttpRequest| {
        let http = http.clone();
        let proof = key.proof(req.method().as_str(), &req.uri().to_string(), now, None);
        req.headers_mut().insert("dpop", proof.parse().unwrap());
        async move {
            use openidconnect::AsyncHttpClient;
            http.call(req).await
        }
    };
    rp.client
        .exchange_code(openidconnect::AuthorizationCode::new(code.into()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(openidconnect::PkceCodeVerifier::new(
            verifier.secret().clone(),
        ))
        .request_async(&client)
        .await
        .map_err(|e| match e {
            openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
            other => other.to_string(),
        })
}

async fn dpop_client(idp: &TestIdp, id: &str, public: bool) {
    idp.client(kenpo_idp::config::ClientConfig {
        client_id: id.into(),
        name: id.into(),
        secret: (!public).then(|| kenpo_shared::Secret::new(SECRET.into())),
        token_endpoint_auth_method: Some(
            if public {
                "none"
            } else {
                "client_secret_basic"
            }
            .into(),
        ),
        redirect_uris: vec![CB.into()],
        require_par: true,
        require_dpop: true,
        ..Default::default()
    })
    .await;
}

/// Signs `member` in with a pushed request bound to `key`; the redirect back and the secrets.
async fn par_sign_in(
    idp: &TestIdp,
    rp: &Rp,
    confidential: bool,
    member: &TestMember,
    key: &DpopKey,
    scopes: &[&str],
) -> (String, AuthStart) {
    let (pairs, start) = auth_params(rp, scopes, &[]);
    let proof = key.proof("POST", &idp.url("/par"), idp.state.now(), None);
    let (status, body, _) = push(idp, &rp.client_id, confidential, &pairs, Some(&proof)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    let browser = Browser::new();
    let back = sign_in(
        idp,
        &browser,
        &authorize_url(idp, &rp.client_id, &request_uri, &[]),
        member,
        CB,
    )
    .await;
    (back, start)
}

#[tokio::test]
async fn par_and_dpop_sign_in_for_each_proof_algorithm() {
    let idp = TestIdp::start().await;
    let member = idp.member("dpop1", "12", "5000001").await;
    dpop_client(&idp, "rp-dpop", false).await;
    let rp = Rp::discover(&idp, "rp-dpop", Some(SECRET), CB).await;
    let doc: Value = reqwest::get(idp.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        idp.url("/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
    );
    for alg in ["ES256", "EdDSA", "RS256", "PS256"] {
        let key = DpopKey::new(alg);
        let (back, start) = par_sign_in(&idp, &rp, true, &member, &key, &["profile"]).await;
        let q = query(&back);
        assert_eq!(q.get("state"), Some(start.state.secret()), "{alg}");
        let (code, _) = code_of(&back);
        let tokens = exchange_with_dpop(&idp, &rp, &code, &start.verifier, &key)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert!(
            tokens.token_type().as_ref().eq_ignore_ascii_case("DPoP"),
            "{alg}"
        );
        let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
        assert_eq!(claims.subject().as_str(), member.subject);
        let at = tokens.access_token().secret().clone();
        let proof = key.proof("GET", &idp.url("/userinfo"), idp.state.now(), Some(&at));
        let (status, info, h) = userinfo(&idp, "DPoP", &at, Some(&proof)).await;
        assert_eq!(status, StatusCode::OK, "{alg}: {info} {}", challenge(&h));
        assert_eq!(info["sub"], member.subject.as_str());
        // Introspection names the key (RFC 9449 §6.2) as this test computes its thumbprint.
        let (_, intro, _) = post_basic(
            &idp.url("/introspect"),
            "rp-dpop",
            SECRET,
            &[("token", &at)],
        )
        .await;
        assert_eq!(intro["active"], true);
        assert_eq!(intro["token_type"], "DPoP");
        assert_eq!(intro["cnf"]["jkt"], key.jkt(), "{alg}");
        // A confidential client's refresh token is bound by its credentials, not the key.
        let rt = tokens.refresh_token().unwrap().secret().clone();
        let (_, intro, _) = post_basic(
            &idp.url("/introspect"),
            "rp-dpop",
            SECRET,
            &[("token", &rt)],
        )
        .await;
        assert_eq!(intro["token_type"], "refresh_token");
        assert!(intro.get("cnf").is_none());
    }
}

#[tokio::test]
async fn par_refusals_of_rfc_9126() {
    let idp = TestIdp::start_with(|c| c.par.request_uri_ttl_secs = 30).await;
    let member = idp.member("par1", "12", "5000002").await;
    idp.confidential("rp-a", CB, "ES256").await;
    idp.confidential("rp-b", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp-a", Some(SECRET), CB).await;
    let (pairs, start) = auth_params(&rp, &[], &[]);

    // Errors of the push are JSON, checked as fully as at /authorize.
    let with = |changes: &[(&str, &str)]| {
        let mut p: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .cloned()
            .collect();
        for (k, v) in changes {
            if !v.is_empty() {
                p.push((k.to_string(), v.to_string()));
            }
        }
        p
    };
    for (changes, code) in [
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("claims", "[1]")], "invalid_request"),
        (
            vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (vec![("dpop_jkt", "not-a-thumbprint")], "invalid_request"),
    ] {
        let (status, body, _) = push(&idp, "rp-a", true, &with(&changes), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{changes:?}: {body}"
        );
    }
    // A proof at the push binds the request to its key: a dpop_jkt naming another is refused.
    let (a, b) = (DpopKey::new("ES256"), DpopKey::new("ES256"));
    let proof = a.proof("POST", &idp.url("/par"), idp.state.now(), None);
    let (status, body, _) = push(
        &idp,
        "rp-a",
        true,
        &with(&[("dpop_jkt", &b.jkt())]),
        Some(&proof),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "{body}"
    );
    // Client authentication as at the token endpoint.
    let form: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let bad = reqwest::Client::new()
        .post(idp.url("/par"))
        .basic_auth("rp-a", Some("wrong-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body, _) = answer(bad).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body, _) = push(&idp, "rp-a", false, &pairs, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    // A good push; its lifetime is the configured one.
    let (status, body, h) = push(&idp, "rp-a", true, &pairs, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert_eq!(body["expires_in"], 30);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // Another client presenting it is refused, and it stays usable for its own client.
    let browser = Browser::new();
    let page = browser
        .get(&authorize_url(&idp, "rp-b", &request_uri, &[]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("pushed by another client"),
        "{}",
        page.body
    );

    // URL parameters neither add nor override: the pushed scope, state and redirect URI hold.
    let url = authorize_url(
        &idp,
        "rp-a",
        &request_uri,
        &[
            ("scope", "openid email"),
            ("state", "attacker"),
            ("redirect_uri", "https://evil.example/cb"),
            ("prompt", "none"),
        ],
    );
    let back = sign_in(&idp, &browser, &url, &member, CB).await;
    assert!(back.starts_with(CB), "{back}");
    let q = query(&back);
    assert_eq!(q.get("state"), Some(start.state.secret()));
    let (code, _) = code_of(&back);
    let tokens = rp
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(start.verifier.secret().clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        tokens
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        vec!["openid"]
    );
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
    assert!(claims.email().is_none(), "email was not pushed");

    // Used once: a second use is refused.
    let page = Browser::new()
        .get(&authorize_url(&idp, "rp-a", &request_uri, &[]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("unknown, used or expired"),
        "{}",
        page.body
    );

    // Expired after its lifetime (by the application clock: beyond the replicas' allowance).
    let (_, body, _) = push(&idp, "rp-a", true, &pairs, None).await;
    let late = body["request_uri"].as_str().unwrap().to_string();
    idp.clock.advance(time::Duration::seconds(
        31 + kenpo_shared::clock::REPLICA_SKEW_SECS,
    ));
    let page = Browser::new()
        .get(&authorize_url(&idp, "rp-a", &late, &[]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("expired"), "{}", page.body);
    // Made up.
    let page = Browser::new()
        .get(&authorize_url(
            &idp,
            "rp-a",
            "urn:ietf:params:oauth:request_uri:made-up",
            &[],
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn par_can_be_required_per_client_and_globally() {
    let idp = TestIdp::start().await;
    dpop_client(&idp, "rp-par", false).await;
    let rp = Rp::discover(&idp, "rp-par", Some(SECRET), CB).await;
    let start = rp.start(&[], &[]);
    let page = Browser::new().get(&start.url).await;
    let location = page
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let q = query(&location);
    assert!(location.starts_with(CB), "{location}");
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(q["error_description"].contains("PAR"));

    let strict = TestIdp::start_with(|c| c.par.require = true).await;
    strict.confidential("rp", CB, "ES256").await;
    let doc: Value = reqwest::get(strict.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    let rp = Rp::discover(&strict, "rp", Some(SECRET), CB).await;
    let page = Browser::new().get(&rp.start(&[], &[]).url).await;
    let location = page
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        query(&location).get("error").map(String::as_str),
        Some("invalid_request")
    );
}

/// A code for `rp` (confidential, not PAR), from an authorization request with `extra`.
async fn code_for(
    idp: &TestIdp,
    rp: &Rp,
    member: &TestMember,
    extra: &[(&str, &str)],
) -> (String, AuthStart) {
    let start = rp.start(&[], extra);
    let back = sign_in(idp, &Browser::new(), &start.url, member, CB).await;
    (code_of(&back).0, start)
}

fn code_form<'a>(code: &'a str, start: &'a AuthStart) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", start.verifier.secret().as_str()),
    ]
}

#[tokio::test]
async fn dpop_refusals_of_rfc_9449() {
    let idp = TestIdp::start().await;
    let member = idp.member("dpop2", "12", "5000003").await;
    idp.confidential("rp", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let key = DpopKey::new("ES256");
    let token_url = idp.url("/token");
    let (code, start) = code_for(&idp, &rp, &member, &[]).await;
    let form = code_form(&code, &start);
    let now2 = idp.state.now();

    // Token endpoint: each bad proof is refused and leaves the code usable.
    let bad_proofs = [
        ("wrong htm", key.proof("GET", &token_url, now2, None)),
        (
            "wrong htu",
            key.proof("POST", &idp.url("/userinfo"), now2, None),
        ),
        ("old iat", key.proof("POST", &token_url, now2 - 120, None)),
        ("future iat", key.proof("POST", &token_url, now2 + 60, None)),
        ("not a JWS", "garbage".to_string()),
    ];
    for (what, proof) in &bad_proofs {
        let (status, body, _) = post_form(&token_url, Some("rp"), Some(proof), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
            "{what}: {body}"
        );
    }
    let good = key.proof("POST", &token_url, now2, None);
    let (status, tokens, h) = post_form(&token_url, Some("rp"), Some(&good), &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    let at = tokens["access_token"].as_str().unwrap().to_string();

    // The same proof again (reused jti) at the token endpoint, with a fresh code.
    let (code2, start2) = code_for(&idp, &rp, &member, &[]).await;
    let (status, body, _) = post_form(
        &token_url,
        Some("rp"),
        Some(&good),
        &code_form(&code2, &start2),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "reused jti: {body}"
    );

    // Userinfo.
    let ui = idp.url("/userinfo");
    let t = idp.state.now();
    let ok = key.proof("GET", &ui, t, Some(&at));
    let (status, _, _) = userinfo(&idp, "DPoP", &at, Some(&ok)).await;
    assert_eq!(status, StatusCode::OK);
    let other = DpopKey::new("ES256");
    let no_ath = key.sign(&json!({"htm": "GET", "htu": ui, "iat": t, "jti": "no-ath"}));
    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        ("bound token as Bearer", "Bearer", None, "invalid_token"),
        (
            "bound token as Bearer, with a proof",
            "Bearer",
            Some(key.proof("GET", &ui, t, Some(&at))),
            "invalid_token",
        ),
        ("reused jti", "DPoP", Some(ok.clone()), "invalid_dpop_proof"),
        (
            "another key",
            "DPoP",
            Some(other.proof("GET", &ui, t, Some(&at))),
            "invalid_dpop_proof",
        ),
        ("missing ath", "DPoP", Some(no_ath), "invalid_dpop_proof"),
        (
            "ath of another token",
            "DPoP",
            Some(key.proof("GET", &ui, t, Some("another"))),
            "invalid_dpop_proof",
        ),
        (
            "wrong htm",
            "DPoP",
            Some(key.proof("POST", &ui, t, Some(&at))),
            "invalid_dpop_proof",
        ),
        (
            "wrong htu",
            "DPoP",
            Some(key.proof("GET", &token_url, t, Some(&at))),
            "invalid_dpop_proof",
        ),
        (
            "old iat",
            "DPoP",
            Some(key.proof("GET", &ui, t - 61, Some(&at))),
            "invalid_dpop_proof",
        ),
        ("no proof", "DPoP", None, "invalid_dpop_proof"),
    ];
    for (what, scheme, proof, code) in cases {
        let (status, body, h) = userinfo(&idp, scheme, &at, proof.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], code, "{what}");
        let c = challenge(&h);
        assert!(
            c.starts_with(&format!("DPoP error=\"{code}\"")),
            "{what}: {c}"
        );
        assert!(
            c.contains("algs=\"ES256 EdDSA Ed25519 RS256 PS256\""),
            "{what}: {c}"
        );
    }
    // Still good after all that.
    let (status, _, _) = userinfo(
        &idp,
        "DPoP",
        &at,
        Some(&key.proof("GET", &ui, t, Some(&at))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // An unbound token presented with the DPoP scheme.
    let (code3, start3) = code_for(&idp, &rp, &member, &[]).await;
    let bearer = rp
        .exchange(
            &code3,
            openidconnect::PkceCodeVerifier::new(start3.verifier.secret().clone()),
        )
        .await
        .unwrap();
    assert_eq!(bearer.token_type().as_ref(), "bearer");
    let bt = bearer.access_token().secret().clone();
    let (status, body, h) = userinfo(
        &idp,
        "DPoP",
        &bt,
        Some(&key.proof("GET", &ui, t, Some(&bt))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(challenge(&h).starts_with("DPoP "));
    let (status, _, _) = userinfo(&idp, "Bearer", &bt, None).await;
    assert_eq!(status, StatusCode::OK);

    // dpop_jkt at /authorize (RFC 9449 §10): the code is redeemed with that key only.
    let (code4, start4) = code_for(&idp, &rp, &member, &[("dpop_jkt", &key.jkt())]).await;
    let form4 = code_form(&code4, &start4);
    let t = idp.state.now();
    for (what, proof) in [
        (
            "another key",
            Some(other.proof("POST", &token_url, t, None)),
        ),
        ("no proof", None),
    ] {
        let (status, body, _) = post_form(&token_url, Some("rp"), proof.as_deref(), &form4).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
            "{what}: {body}"
        );
    }
    let (status, body, _) = post_form(
        &token_url,
        Some("rp"),
        Some(&key.proof("POST", &token_url, t, None)),
        &form4,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A client registered with require_dpop cannot get a token without a proof.
    dpop_client(&idp, "rp-dpop", false).await;
    let rp2 = Rp::discover(&idp, "rp-dpop", Some(SECRET), CB).await;
    let (back, start5) = par_sign_in(&idp, &rp2, true, &member, &key, &[]).await;
    let (code5, _) = code_of(&back);
    let (status, body, _) = post_form(
        &token_url,
        Some("rp-dpop"),
        None,
        &code_form(&code5, &start5),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "{body}"
    );
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let idp = TestIdp::start().await;
    let member = idp.member("dpop3", "12", "5000004").await;
    dpop_client(&idp, "spa", true).await;
    let rp = Rp::discover(&idp, "spa", None, CB).await;
    let key = DpopKey::new("EdDSA");
    let (back, start) = par_sign_in(&idp, &rp, false, &member, &key, &["offline_access"]).await;
    let (code, _) = code_of(&back);
    let tokens = exchange_with_dpop(&idp, &rp, &code, &start.verifier, &key)
        .await
        .unwrap();
    let rt = tokens.refresh_token().unwrap().secret().clone();
    let token_url = idp.url("/token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "spa"),
    ];
    let t = idp.state.now();
    let other = DpopKey::new("EdDSA");
    for (what, proof) in [
        (
            "another key",
            Some(other.proof("POST", &token_url, t, None)),
        ),
        ("no proof", None),
    ] {
        let (status, body, _) = post_form(&token_url, None, proof.as_deref(), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
            "{what}: {body}"
        );
    }
    // Refused attempts changed nothing: the right key refreshes, and the new token stays bound.
    let (status, body, _) = post_form(
        &token_url,
        None,
        Some(&key.proof("POST", &token_url, t, None)),
        &form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    let form2 = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt2.as_str()),
        ("client_id", "spa"),
    ];
    let (status, body, _) = post_form(
        &token_url,
        None,
        Some(&other.proof("POST", &token_url, t, None)),
        &form2,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "rotated token: {body}"
    );
    let (status, _, _) = post_form(
        &token_url,
        None,
        Some(&key.proof("POST", &token_url, t, None)),
        &form2,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn server_nonces_when_configured() {
    let idp = TestIdp::start_with(|c| c.dpop.nonce = true).await;
    let member = idp.member("dpop4", "12", "5000005").await;
    idp.confidential("rp", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let key = DpopKey::new("ES256");
    let token_url = idp.url("/token");
    let (code, start) = code_for(&idp, &rp, &member, &[]).await;
    let form = code_form(&code, &start);
    let t = idp.state.now();
    let (status, body, h) = post_form(
        &token_url,
        Some("rp"),
        Some(&key.proof("POST", &token_url, t, None)),
        &form,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = h
        .get("dpop-nonce")
        .expect("DPoP-Nonce")
        .to_str()
        .unwrap()
        .to_string();
    let with_nonce = |htm: &str, htu: &str, n: &str, at: Option<&str>| {
        let mut c = json!({"htm": htm, "htu": htu, "iat": t, "jti": uuid::Uuid::new_v4().to_string(), "nonce": n});
        if let Some(at) = at {
            c["ath"] = json!(b64(&Sha256::digest(at.as_bytes())));
        }
        key.sign(&c)
    };
    let (status, body, _) = post_form(
        &token_url,
        Some("rp"),
        Some(&with_nonce("POST", &token_url, "made-up", None)),
        &form,
    )
    .await;
    assert_eq!(body["error"], "use_dpop_nonce", "{status}");
    let (status, tokens, h) = post_form(
        &token_url,
        Some("rp"),
        Some(&with_nonce("POST", &token_url, &nonce, None)),
        &form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(h.get("dpop-nonce").is_some());
    let at = tokens["access_token"].as_str().unwrap();
    let ui = idp.url("/userinfo");
    let (status, body, h) =
        userinfo(&idp, "DPoP", at, Some(&key.proof("GET", &ui, t, Some(at)))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("use_dpop_nonce"))
    );
    assert!(challenge(&h).starts_with("DPoP error=\"use_dpop_nonce\""));
    let fresh = h.get("dpop-nonce").unwrap().to_str().unwrap().to_string();
    let (status, _, _) = userinfo(
        &idp,
        "DPoP",
        at,
        Some(&with_nonce("GET", &ui, &fresh, Some(at))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A nonce stops being accepted after its lifetime (dpop.nonce_ttl_secs, application clock).
    idp.clock.advance(time::Duration::seconds(
        idp.state.config.dpop.nonce_ttl_secs,
    ));
    let t = idp.state.now();
    let late = {
        let c = json!({"htm": "GET", "htu": ui, "iat": t, "jti": "late", "nonce": fresh, "ath": b64(&Sha256::digest(at.as_bytes()))});
        key.sign(&c)
    };
    let (_, body, h) = userinfo(&idp, "DPoP", at, Some(&late)).await;
    assert_eq!(body["error"], "use_dpop_nonce");
    assert_ne!(
        h.get("dpop-nonce").unwrap().to_str().unwrap(),
        fresh,
        "a new nonce is handed out"
    );
}

/// The folder of the openid-client relying party, its packages installed if missing.
fn certified_rp() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certified-rp");
    if !dir.join("node_modules/openid-client").exists() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(ok.success(), "npm ci in tests/certified-rp");
    }
    dir
}

/// One sign-in by openid-client (OpenID Certified) with its own PAR and DPoP support: the
/// JSON line it ends with.
async fn certified_sign_in(idp: &TestIdp, member: &TestMember, alg: &str) -> Value {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut child = tokio::process::Command::new("node")
        .arg("rp.mjs")
        .args([idp.issuer.as_str(), "rp-certified", SECRET, CB, alg])
        .current_dir(certified_rp())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value =
        serde_json::from_str(&lines.next_line().await.unwrap().expect("authorization URL"))
            .unwrap();
    let url = first["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("{alg}: {first}"));
    let q = query(url);
    assert_eq!(
        q.keys().count(),
        2,
        "only client_id and request_uri travel: {url}"
    );
    assert!(q["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"));
    let back = sign_in(idp, &Browser::new(), url, member, CB).await;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{back}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let last = lines.next_line().await.unwrap().expect("outcome");
    child.wait().await.unwrap();
    serde_json::from_str(&last).unwrap()
}

#[tokio::test]
async fn a_certified_library_signs_in_with_par_and_dpop() {
    for nonces in [false, true] {
        for alg in ["ES256", "EdDSA", "RS256", "PS256"] {
            // openid-client dates its proofs by the real clock; the harness moves the IdP's
            // clock 30 s per sign-in (a fresh TOTP step), so each sign-in gets its own IdP.
            let idp = TestIdp::start_with(|c| c.dpop.nonce = nonces).await;
            let member = idp.member("certified", "12", "5000006").await;
            dpop_client(&idp, "rp-certified", false).await;
            let out = certified_sign_in(&idp, &member, alg).await;
            assert!(out.get("error").is_none(), "{alg}, nonces {nonces}: {out}");
            assert!(
                out["token_type"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("dpop"),
                "{out}"
            );
            assert_eq!(out["sub"], member.subject.as_str());
            assert_eq!(out["userinfo_sub"], member.subject.as_str());
            assert!(
                out["refreshed_token_type"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("dpop")
            );
        }
    }
}
