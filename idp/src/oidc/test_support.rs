//! Fixtures shared by the unit tests of the OpenID Connect modules.

use crate::store::clients::{AuthMethod, Client};

/// A registered relying party with one redirect URI (`https://rp.example/cb`) and every
/// option at its default; tests change the fields they are about.
pub fn client(client_id: &str, auth_method: AuthMethod) -> Client {
    Client {
        client_id: client_id.into(),
        name: client_id.into(),
        secret_hash: None,
        auth_method,
        jwks: None,
        redirect_uris: vec!["https://rp.example/cb".into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        third_party: false,
        id_token_alg: None,
        scopes: vec![],
        source: "test".into(),
        pkce_optional: false,
        require_par: false,
        require_dpop: false,
    }
}
