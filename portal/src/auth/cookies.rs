//! The portal's cookies. Over https the names carry the `__Host-` prefix (host-only, `Secure`,
//! `Path=/`); on a plain-http loopback base URL (development) the prefix and `Secure` are
//! dropped because browsers refuse them there. Names differ from the IdP's, because browsers
//! share cookies between ports of one host (`localhost:8080` and `localhost:8081`).
//! `SameSite=Lax` still sends the session on the top-level navigation back from the IdP.

use axum::http::HeaderValue;
use axum::http::request::Parts;

pub const SESSION: &str = "kenpo_portal";
/// Binds a sign-in to the browser that started it (login CSRF).
pub const LOGIN: &str = "kenpo_portal_login";

#[derive(Clone, Debug)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    pub fn get(&self, parts: &Parts, base: &str) -> Option<String> {
        kenpo_shared::web::cookie_value(parts, &self.name(base)).filter(|v| !v.is_empty())
    }

    /// A `Set-Cookie` value; `max_age` None makes a browser-session cookie.
    pub fn set(&self, base: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut s = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if self.secure {
            s.push_str("; Secure");
        }
        if let Some(age) = max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&s)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", Some(0))
    }
}
