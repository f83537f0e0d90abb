//! Facts about the requesting browser: cookies, client address (behind trusted proxies only),
//! user agent.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Who is asking: address, user agent and the browser's device cookie (`security::device`).
#[derive(Debug, Clone)]
pub struct Requester {
    pub ip: IpAddr,
    pub user_agent: String,
    /// The raw device cookie, checked only against a member (see `device::recognise`).
    pub device: Option<String>,
}

impl Requester {
    /// Where and when this request was made, for the mails it causes.
    pub fn requested(&self, at: i64) -> crate::mail::Requested {
        crate::mail::Requested {
            at,
            device: device_label(&self.user_agent),
            ip: self.ip.to_string(),
        }
    }
}

impl Requester {
    /// The key of this requester's per-address budgets (see [`bucket`]).
    pub fn bucket(&self) -> IpAddr {
        bucket(self.ip)
    }
}

/// The unit of per-address budgets: an IPv4 address as it is, an IPv6 address by its /64
/// prefix (one subscriber line or host usually gets a whole /64, so counting single IPv6
/// addresses would give one attacker 2^64 budgets). An IPv4-mapped IPv6 address counts as
/// the IPv4 address.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The trusted proxies, as a request extension set by the router.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Requester {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let trusted = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let ip = client_ip(peer, &parts.headers, &trusted.0);
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        // The `__Host-` name over https; a plain one planted by a sibling host is only
        // looked at without it, and still needs a valid tag and a stored browser.
        let device = cookie(
            &parts.headers,
            &format!("__Host-{}", super::cookies::DEVICE),
        )
        .or_else(|| cookie(&parts.headers, super::cookies::DEVICE));
        Ok(Requester {
            ip,
            user_agent,
            device,
        })
    }
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// A short description of a device from its user agent, e.g. "Chrome / Windows".
pub fn device_label(user_agent: &str) -> String {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) if r.name != "UNKNOWN" => {
            if r.os == "UNKNOWN" {
                r.name.to_string()
            } else {
                format!("{} / {}", r.name, r.os)
            }
        }
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_64_share_a_bucket() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            bucket(ip("2001:db8:1:2:aaaa::1")),
            bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_eq!(bucket(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(bucket(ip("192.0.2.7")), bucket(ip("192.0.2.8")));
        assert_eq!(bucket(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &[proxy]), stranger);
        assert_eq!(
            client_ip(proxy, &h, &[proxy, inner]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &h, &[proxy]), inner);
    }
}
