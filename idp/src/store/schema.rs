//! diesel table definitions, kept in step with migrations/idp/{sqlite,postgres} by hand (both
//! backends share these types: times are UNIX seconds).

diesel::table! {
    members (id) {
        id -> Text,
        user_id -> Text,
        user_id_key -> Text,
        subject -> Text,
        symbol -> Text,
        number -> Text,
        birthdate -> Text,
        name -> Text,
        name_kana -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        locale -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        initial_password_since -> Nullable<BigInt>,
        birthdate_confirmed_at -> Nullable<BigInt>,
        terms_version -> Nullable<Text>,
        terms_accepted_at -> Nullable<BigInt>,
        chosen_factor -> Nullable<Text>,
        preferred_factor -> Nullable<Text>,
        email_otp_enabled -> Bool,
        onboarded_at -> Nullable<BigInt>,
        password_changed_at -> Nullable<BigInt>,
        last_login_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        disabled_at -> Nullable<BigInt>,
        strong_factor_due -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        member_id -> Text,
        credential_id -> Text,
        label -> Text,
        passkey -> Text,
        backup_eligible -> Bool,
        backup_state -> Bool,
        sign_count -> BigInt,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    totp_credentials (member_id) {
        member_id -> Text,
        secret_enc -> Binary,
        last_step -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    webauthn_user_handles (member_id) {
        member_id -> Text,
        handle -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        auth_method -> Text,
        jwks -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        third_party -> Bool,
        id_token_alg -> Text,
        scopes -> Text,
        source -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        pkce_optional -> Bool,
        require_par -> Bool,
        require_dpop -> Bool,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        public_jwk -> Text,
        private_key_enc -> Binary,
        created_at -> BigInt,
        activates_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        member_id -> Text,
        sid -> Text,
        scope -> Text,
        claims -> Nullable<Text>,
        auth_time -> BigInt,
        amr -> Text,
        acr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    consents (member_id, client_id) {
        member_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        member_id -> Nullable<Text>,
        actor -> Text,
        kind -> Text,
        detail -> Text,
        ip -> Nullable<Text>,
        at -> BigInt,
        staff_id -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    staff_accounts (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        subject -> Text,
        webauthn_handle -> Text,
        disabled_at -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    staff_passkeys (id) {
        id -> Text,
        staff_id -> Text,
        credential_id -> Text,
        label -> Text,
        passkey -> Text,
        sign_count -> BigInt,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    staff_links (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        kind -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    invitation_codes (member_id) {
        member_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    member_imports (id) {
        id -> Text,
        staff_id -> Nullable<Text>,
        file_name -> Text,
        created -> Integer,
        updated -> Integer,
        at -> BigInt,
    }
}

diesel::table! {
    member_import_rows (import_id, member_id) {
        import_id -> Text,
        member_id -> Text,
        created -> Bool,
    }
}

diesel::table! {
    backchannel_outbox (id) {
        id -> Text,
        client_id -> Text,
        uri -> Text,
        logout_token -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    known_browsers (id) {
        id -> Text,
        member_id -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        remembered -> Bool,
    }
}

diesel::joinable!(passkeys -> members (member_id));
diesel::joinable!(known_browsers -> members (member_id));
diesel::joinable!(grants -> members (member_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));
diesel::joinable!(staff_passkeys -> staff_accounts (staff_id));
diesel::joinable!(member_import_rows -> members (member_id));

diesel::allow_tables_to_appear_in_same_query!(
    members,
    passkeys,
    totp_credentials,
    webauthn_user_handles,
    clients,
    signing_keys,
    grants,
    refresh_tokens,
    consents,
    audit_events,
    backchannel_outbox,
    staff_accounts,
    staff_passkeys,
    staff_links,
    invitation_codes,
    member_imports,
    member_import_rows,
    known_browsers,
);
