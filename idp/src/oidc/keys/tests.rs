use super::*;

#[test]
fn each_algorithm_signs_and_verifies() {
    for alg in Alg::ALL {
        let (key, der) = SigningKey::generate(alg).unwrap();
        let again = SigningKey::from_pkcs8(&key.kid, alg, &der).unwrap();
        let sig = again.sign_bytes(b"hello").unwrap();
        assert!(
            verify_with_jwk(key.public_jwk(), alg, b"hello", &sig),
            "{alg:?}"
        );
        assert!(
            !verify_with_jwk(key.public_jwk(), alg, b"hellO", &sig),
            "{alg:?}"
        );
    }
}

fn row(kid: &str, alg: Alg, activates_at: i64, retired_at: Option<i64>) -> KeyRow {
    KeyRow {
        kid: kid.into(),
        alg: alg.as_str().into(),
        public_jwk: "{}".into(),
        private_key_enc: Vec::new(),
        created_at: activates_at,
        activates_at,
        retired_at,
        expires_at: None,
    }
}

const POLICY: RotationPolicy = RotationPolicy {
    rotate_after_secs: 1000,
    prepublish_secs: 100,
    retire_grace_secs: 50,
};

#[test]
fn plan_creates_first_keys_dated_back_for_clocks_behind() {
    let actions = plan(&[], POLICY, 10_000);
    assert_eq!(actions.len(), 3);
    for a in actions {
        assert!(
            matches!(a, KeyAction::Create { activates_at, .. } if activates_at == 10_000 - CLOCK_SKEW_TOLERANCE_SECS),
            "{a:?}"
        );
    }
}

#[test]
fn plan_keeps_one_active_key_and_prepublishes_its_successor() {
    let mut rows: Vec<KeyRow> = Alg::ALL
        .iter()
        .map(|a| row(&format!("{}-1", a.as_str()), *a, 0, None))
        .collect();
    assert!(plan(&rows, POLICY, 500).is_empty(), "nothing due yet");
    // Two live keys of one algorithm (a race lost without the lock): the older retires.
    rows.push(row("ES256-2", Alg::Es256, 10, None));
    let actions = plan(&rows, POLICY, 500);
    assert_eq!(
        actions,
        vec![KeyAction::Retire {
            kid: "ES256-1".into(),
            at: 10,
            expires_at: 60
        }]
    );
    // Within `prepublish_secs` of the due date: a pending successor for each algorithm.
    let rows: Vec<KeyRow> = Alg::ALL
        .iter()
        .map(|a| row(&format!("{}-1", a.as_str()), *a, 0, None))
        .collect();
    let actions = plan(&rows, POLICY, 950);
    assert_eq!(actions.len(), 3);
    assert!(actions.iter().all(|a| matches!(
        a,
        KeyAction::Create {
            activates_at: 1000,
            ..
        }
    )));
    // A pending successor exists: nothing more.
    let mut with_next = rows.clone();
    for a in Alg::ALL {
        with_next.push(row(&format!("{}-2", a.as_str()), a, 1000, None));
    }
    assert!(plan(&with_next, POLICY, 950).is_empty());
}
