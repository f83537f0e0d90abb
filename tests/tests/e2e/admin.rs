//! The staff CLI, run in-process against the test IdP's database.

use crate::support::*;
use kenpo_idp::admin::{self, ClientsCmd, Command, KeysCmd, MembersCmd};
use kenpo_shared::ids::UserId;
use reqwest::StatusCode;

fn csv(dir: &TempDir, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.0.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const HEADER: &str = "user_id,symbol,number,birthdate,name,name_kana,email\n";

#[tokio::test]
async fn member_import_is_all_or_nothing_and_updates() {
    let idp = TestIdp::start().await;
    let cfg = idp.state.config.clone();
    let good = csv(
        &idp.dir,
        "good.csv",
        &format!(
            "{HEADER}ichiro,12,3456789,1980-12-01,鈴木 一郎,スズキ イチロウ,ichiro@example.jp\nhana,12,3456790,1985-01-31,佐藤 花子,サトウ ハナコ,\n"
        ),
    );
    admin::run(
        cfg.clone(),
        Command::Members(MembersCmd::Import {
            file: good.clone(),
            dry_run: false,
        }),
    )
    .await
    .expect("import");
    let members = idp.state.members();
    let ichiro = members
        .by_user_id(&UserId::parse("ichiro").unwrap())
        .await
        .unwrap()
        .expect("imported");
    assert!(ichiro.uses_initial_password());

    // The initial password (記号+番号+生年月日) signs in and leads to the birthdate step.
    let b = Browser::new();
    let login = b.get(&idp.url("/login")).await;
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "ichiro"), ("password", "12345678919801201")],
        )
        .await;
    assert_eq!(p.headers["location"], "/signin/birthdate");

    // A file with one bad row changes nothing (not even the good rows).
    let bad = csv(
        &idp.dir,
        "bad.csv",
        &format!(
            "{HEADER}ichiro,12,3456789,1980-12-01,鈴木 一郎（更新）,スズキ イチロウ,\njiro,12,x,1980-13-01,,ジロウ,\n"
        ),
    );
    let err = admin::run(
        cfg.clone(),
        Command::Members(MembersCmd::Import {
            file: bad,
            dry_run: false,
        }),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nothing was imported"), "{err}");
    assert_eq!(
        members
            .by_user_id(&UserId::parse("ichiro").unwrap())
            .await
            .unwrap()
            .unwrap()
            .name,
        "鈴木 一郎"
    );
    assert!(
        members
            .by_user_id(&UserId::parse("jiro").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // A clash with an existing member's 記号・番号 is refused as a whole too.
    let clash = csv(
        &idp.dir,
        "clash.csv",
        &format!(
            "{HEADER}saburo,12,3456789,1990-01-01,山本 三郎,ヤマモト サブロウ,\nshiro,12,9999999,1990-01-01,山本 四郎,ヤマモト シロウ,\n"
        ),
    );
    assert!(
        admin::run(
            cfg.clone(),
            Command::Members(MembersCmd::Import {
                file: clash,
                dry_run: false
            })
        )
        .await
        .is_err()
    );
    assert!(
        members
            .by_user_id(&UserId::parse("shiro").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Re-import updates.
    let update = csv(
        &idp.dir,
        "update.csv",
        &format!(
            "{HEADER}ICHIRO,12,3456789,1980-12-01,鈴木 一郎,スズキ イチロー,ichiro@example.jp\n"
        ),
    );
    admin::run(
        cfg.clone(),
        Command::Members(MembersCmd::Import {
            file: update,
            dry_run: false,
        }),
    )
    .await
    .expect("re-import");
    assert_eq!(
        members
            .by_user_id(&UserId::parse("ichiro").unwrap())
            .await
            .unwrap()
            .unwrap()
            .name_kana,
        "スズキ イチロー"
    );
    assert_eq!(members.count().await.unwrap(), 2);
}

#[tokio::test]
async fn staff_resets_unlock_clients_and_keys() {
    let idp = TestIdp::start().await;
    let cfg = idp.state.config.clone();
    let member = idp.member("kumi", "12", "1111111").await;
    idp.confidential("rp", "https://rp.example/cb", "ES256")
        .await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), "https://rp.example/cb").await;
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(
        &sign_in(
            &idp,
            &Browser::new(),
            &start.url,
            &member,
            "https://rp.example/cb",
        )
        .await,
    );
    let tokens = rp.exchange(&code, start.verifier).await.unwrap();
    use openidconnect::OAuth2TokenResponse;
    let rt = tokens.refresh_token().unwrap().secret().clone();

    // Password reset by staff: the initial password works again, existing grants end.
    admin::run(
        cfg.clone(),
        Command::Members(MembersCmd::ResetPassword {
            user_id: Some("kumi".into()),
            all: false,
        }),
    )
    .await
    .unwrap();
    let (_, body, _) = post_basic(
        &idp.url("/token"),
        "rp",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let b = Browser::new();
    let login = b.get(&idp.url("/login")).await;
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "kumi"), ("password", &member.password)],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNAUTHORIZED,
        "the old password no longer works"
    );
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "kumi"), ("password", "12111111119801201")],
        )
        .await;
    assert!(
        p.status.is_redirection(),
        "the initial password works: {}",
        p.status
    );

    // Unlock clears the failure count.
    let t =
        kenpo_idp::security::throttle::Throttle::new(&idp.state.eph, &idp.state.config.throttle);
    assert!(t.account_failures("kumi").await.unwrap().0 > 0);
    // (The CLI's unlock talks to the configured store; with Redis it reaches the server's.)
    if cfg.ephemeral.url != "memory" {
        admin::run(
            cfg.clone(),
            Command::Members(MembersCmd::Unlock {
                user_id: "kumi".into(),
                reason: "test".into(),
            }),
        )
        .await
        .unwrap();
        assert_eq!(t.account_failures("kumi").await.unwrap().0, 0);
    }

    // Factor reset: the member must choose and enrol again.
    admin::run(
        cfg.clone(),
        Command::Members(MembersCmd::ResetMfa {
            user_id: "kumi".into(),
            reason: "test".into(),
        }),
    )
    .await
    .unwrap();
    let m = idp
        .state
        .members()
        .by_id(&member.id)
        .await
        .unwrap()
        .unwrap();
    let f = kenpo_idp::store::credentials::CredentialStore::new(idp.state.db.clone())
        .factors(&m)
        .await
        .unwrap();
    assert!(!f.any());
    let audit = idp.state.audit().for_member(&member.id, 20).await.unwrap();
    let kinds: Vec<&str> = audit.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"mfa.reset") && kinds.contains(&"password.reset"),
        "{kinds:?}"
    );

    // Clients.
    admin::run(
        cfg.clone(),
        Command::Clients(ClientsCmd::Add(admin::AddClient {
            id: "cli-rp".into(),
            name: "CLI RP".into(),
            redirect_uris: vec!["https://cli.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            auth_method: "client_secret_basic".into(),
            jwks: None,
            third_party: false,
            alg: Some("EdDSA".into()),
            pkce_optional: true,
            require_par: false,
            require_dpop: false,
        })),
    )
    .await
    .unwrap();
    let stored = idp.state.clients().get("cli-rp").await.unwrap().unwrap();
    assert!(
        stored.pkce_optional && !stored.requires_pkce(),
        "--pkce-optional is stored"
    );
    let bad = admin::run(
        cfg.clone(),
        Command::Clients(ClientsCmd::Add(admin::AddClient {
            id: "bad".into(),
            name: "Bad".into(),
            redirect_uris: vec!["http://evil.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            auth_method: "client_secret_basic".into(),
            jwks: None,
            third_party: false,
            alg: None,
            pkce_optional: false,
            require_par: false,
            require_dpop: false,
        })),
    )
    .await;
    assert!(
        bad.is_err(),
        "plain http redirect URIs off localhost are refused"
    );
    admin::run(
        cfg.clone(),
        Command::Clients(ClientsCmd::Remove {
            client_id: "cli-rp".into(),
        }),
    )
    .await
    .unwrap();
    // The CLI changed the database; a running replica sees it once its client cache expires.
    let db = kenpo_idp::store::clients::ClientStore::new(idp.state.db.clone());
    assert!(db.get("cli-rp").await.unwrap().is_none());
    assert!(
        idp.state.clients().get("cli-rp").await.unwrap().is_some(),
        "still cached"
    );

    // Keys.
    let before = idp
        .state
        .keys
        .signer(kenpo_idp::oidc::keys::Alg::Rs256)
        .unwrap()
        .kid
        .clone();
    admin::run(
        cfg.clone(),
        Command::Keys(KeysCmd::Rotate {
            alg: Some("RS256".into()),
        }),
    )
    .await
    .unwrap();
    let s = &idp.state;
    s.keys.reload(&s.db, &s.sbox, s.now()).await.unwrap();
    assert_ne!(
        s.keys
            .signer(kenpo_idp::oidc::keys::Alg::Rs256)
            .unwrap()
            .kid,
        before
    );
}
