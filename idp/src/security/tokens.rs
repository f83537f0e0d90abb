//! Random bearer values (session cookies, codes, tokens, links) and how they are stored: only a
//! SHA-256 of each, so a copy of the store or a log line never holds a usable value.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// 128 random bits, for identifiers that are not secrets (`sid`, `jti`, key ids).
pub fn new_id() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The stored form of a bearer value: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Constant-time equality of two byte strings.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Ones per bit position over `values`: a generator that is not random (a constant, a
    /// counter, a stuck byte) shows far outside the binomial spread of fair coins.
    fn bits_look_fair(values: &[Vec<u8>]) {
        let n = values.len() as f64;
        let width = values[0].len() * 8;
        for bit in 0..width {
            let ones = values
                .iter()
                .filter(|v| v[bit / 8] >> (bit % 8) & 1 == 1)
                .count() as f64;
            // Eight standard deviations of Binomial(n, 1/2): never off by chance.
            assert!(
                (ones - n / 2.0).abs() < 8.0 * (n / 4.0).sqrt(),
                "bit {bit}: {ones} of {n}"
            );
        }
    }

    /// ASVS V7.2.3 and V6.5.3: session cookies, codes, links and refresh tokens carry 256 random
    /// bits, identifiers 128, TOTP seeds 160; none repeats and every bit is a fair coin. (Emailed
    /// codes are tested beside their maker, mfa::email_otp.)
    #[test]
    fn random_values_are_long_unique_and_fair() {
        const N: usize = 4000;
        let tokens: Vec<Vec<u8>> = (0..N)
            .map(|_| {
                let t = new_token();
                assert_eq!(t.len(), 43, "{t}");
                b64url_decode(&t).expect("base64url")
            })
            .collect();
        assert!(tokens.iter().all(|t| t.len() == 32));
        assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), N);
        bits_look_fair(&tokens);

        let ids: Vec<Vec<u8>> = (0..N)
            .map(|_| b64url_decode(&new_id()).expect("base64url"))
            .collect();
        assert!(ids.iter().all(|t| t.len() == 16));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), N);
        bits_look_fair(&ids);

        let seeds: Vec<Vec<u8>> = (0..N).map(|_| crate::mfa::totp::new_secret()).collect();
        assert!(seeds.iter().all(|s| s.len() == 20));
        bits_look_fair(&seeds);
    }
}
