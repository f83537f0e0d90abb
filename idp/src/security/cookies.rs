//! Cookie names and attributes. Over https the names carry the `__Host-` prefix (host-only,
//! `Secure`, `Path=/`, so a sibling subdomain cannot plant or overwrite them); on a plain-http
//! loopback issuer (development only) the prefix and `Secure` are dropped because browsers
//! refuse them there. Always `HttpOnly` and `SameSite=Lax`: Lax still sends the session on the
//! top-level navigation back from a relying party, and never on cross-site subrequests.

use axum::http::HeaderValue;

/// The device token of a known browser (`security::device`).
pub const DEVICE: &str = "kenpo_device";

#[derive(Clone)]
pub struct Cookies {
    secure: bool,
    /// HMAC key binding CSRF form tokens to the CSRF cookie.
    pub(crate) csrf_key: [u8; 32],
}

impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookies")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl Cookies {
    pub fn new(secure: bool, csrf_key: [u8; 32]) -> Self {
        Self { secure, csrf_key }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    pub fn session(&self) -> String {
        self.name("kenpo_session")
    }

    pub fn csrf(&self) -> String {
        self.name("kenpo_csrf")
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
