//! Credentials that Portcullis makes (client secrets, tokens, codes) are 256 random bits
//! from the operating system's CSPRNG. At rest only their SHA-256 is kept.
//!
//! Why a plain, fast SHA-256 and not Argon2 or a salted hash: salts and slow hashes
//! protect low-entropy human passwords from precomputed tables and guessing. A value
//! with 256 bits of entropy cannot be guessed or tabulated, so a preimage search against
//! SHA-256 is the only attack left, and it is infeasible. A deterministic hash also lets
//! the store find a token by an indexed lookup of its hash, so a copy of the database
//! yields no usable credential while validation stays a single query.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A credential in plain text: printable once, never logged, never cloned by accident.
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// 32 random bytes, base64url without padding (43 characters, RFC 6750's b64token
    /// alphabet, so the value travels in headers, forms and URLs unescaped).
    pub fn generate() -> Self {
        Self(random_string(32))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `bytes` random bytes, base64url without padding.
pub fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `length` random letters and digits (about 5.95 bits each). Used for client ids,
/// which people paste into command lines, where a leading `-` would read as an option.
pub fn random_alphanumeric(length: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut OsRng, length)
}

/// The SHA-256 of a credential: what the store keeps and looks up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison, for checking a presented secret against a stored hash.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_url_safe() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
        let id = random_alphanumeric(32);
        assert!(id.len() == 32 && id.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn hash_comparison() {
        let s = Secret::new("abc".into());
        assert!(s.hash().ct_eq(&TokenHash::of("abc")));
        assert!(!s.hash().ct_eq(&TokenHash::of("abd")));
    }
}
