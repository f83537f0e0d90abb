use super::*;

#[test]
fn registration_asks_for_a_discoverable_verified_credential_on_any_device() {
    let origin = url::Url::parse("https://kenpo.example.jp").unwrap();
    let wa = webauthn_rs::WebauthnBuilder::new("kenpo.example.jp", &origin)
        .unwrap()
        .build()
        .unwrap();
    let (ccr, _) = wa
        .start_passkey_registration(uuid::Uuid::new_v4(), "taro", "山田 太郎", None)
        .unwrap();
    let v = discoverable(&ccr).unwrap();
    let sel = &v["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required");
    assert_eq!(sel["requireResidentKey"], true);
    assert_eq!(sel["userVerification"], "required");
    assert!(sel.get("authenticatorAttachment").is_none());
    assert!(v["publicKey"]["challenge"].is_string());
}

#[test]
fn labels_are_cleaned() {
    assert_eq!(clean_label("  iPhone\u{0007} ").as_deref(), Some("iPhone"));
    assert_eq!(clean_label("ＰＣ"), Some("PC".into()), "NFKC");
    assert_eq!(clean_label(" \t "), None);
    assert_eq!(
        clean_label(&"あ".repeat(100)).unwrap().chars().count(),
        LABEL_MAX
    );
}
