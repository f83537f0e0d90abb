//! The browser's WebAuthn answers are untrusted JSON: whatever arrives, parsing and the
//! ceremony functions answer without panicking (a refusal, never a pass); a well-formed
//! answer survives a serialisation round trip unchanged.
use proptest::prelude::*;
use serde_json::{Value, json};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

fn b64(bytes: &[u8]) -> String {
    crate::security::tokens::b64url(bytes)
}

fn webauthn() -> webauthn_rs::Webauthn {
    let origin = url::Url::parse("https://kenpo.example.jp").unwrap();
    webauthn_rs::WebauthnBuilder::new("kenpo.example.jp", &origin)
        .unwrap()
        .build()
        .unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[A-Za-z0-9_-]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "id",
                    "rawId",
                    "type",
                    "response",
                    "clientDataJSON",
                    "authenticatorData",
                    "signature",
                    "userHandle",
                    "attestationObject",
                    "extensions",
                    "transports",
                ]),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn assertion(
    id: &[u8],
    client_data: &[u8],
    auth_data: &[u8],
    sig: &[u8],
    handle: Option<&[u8]>,
) -> Value {
    json!({
        "id": b64(id),
        "rawId": b64(id),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(client_data),
            "authenticatorData": b64(auth_data),
            "signature": b64(sig),
            "userHandle": handle.map(b64),
        },
        "extensions": {},
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_json_is_parsed_or_refused_without_panic(v in json_value(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = serde_json::from_value::<PublicKeyCredential>(v.clone());
        let _ = serde_json::from_value::<RegisterPublicKeyCredential>(v);
        let _ = serde_json::from_slice::<PublicKeyCredential>(&bytes);
        let _ = serde_json::from_slice::<RegisterPublicKeyCredential>(&bytes);
    }

    #[test]
    fn a_forged_assertion_is_refused_without_panic(
        id in prop::collection::vec(any::<u8>(), 1..64),
        client_data in prop::collection::vec(any::<u8>(), 0..160),
        auth_data in prop::collection::vec(any::<u8>(), 0..80),
        sig in prop::collection::vec(any::<u8>(), 0..80),
        handle in prop::option::of(prop::collection::vec(any::<u8>(), 16..=16)),
        challenge in any::<bool>(),
    ) {
        let wa = webauthn();
        let (rcr, auth) = wa.start_discoverable_authentication().unwrap();
        // Client data that at least names the right challenge, or arbitrary bytes.
        let client_data = if challenge {
            let c = serde_json::to_value(&rcr).unwrap()["publicKey"]["challenge"].clone();
            serde_json::to_vec(&json!({
                "type": "webauthn.get", "challenge": c,
                "origin": "https://kenpo.example.jp",
            })).unwrap()
        } else {
            client_data
        };
        let v = assertion(&id, &client_data, &auth_data, &sig, handle.as_deref());
        let cred: PublicKeyCredential = serde_json::from_value(v.clone()).unwrap();
        // Round trip: what was parsed serialises back to the same answer.
        let again: PublicKeyCredential =
            serde_json::from_value(serde_json::to_value(&cred).unwrap()).unwrap();
        prop_assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&cred).unwrap());
        if wa.identify_discoverable_authentication(&cred).is_ok() {
            // Identified by its claimed handle; with no key to verify it, it must still be
            // refused (the slice form of finish takes "no key" without one to build).
            #[allow(deprecated)]
            let finished = wa.finish_discoverable_authentication(&cred, auth, &[]);
            prop_assert!(finished.is_err());
        }
    }
}
