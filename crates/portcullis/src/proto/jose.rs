//! JOSE algorithm names (RFC 7518, RFC 8037).

use std::fmt;

/// The JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1) an application may have its ID
/// tokens signed with.
///
/// ```
/// use portcullis::proto::SigningAlgorithm;
///
/// assert_eq!(SigningAlgorithm::parse("ES256"), Some(SigningAlgorithm::Es256));
/// assert_eq!(SigningAlgorithm::EdDsa.to_string(), "EdDSA");
/// // `none` and the HMAC algorithms are never offered: a client cannot choose them.
/// assert_eq!(SigningAlgorithm::parse("HS256"), None);
/// assert!(SigningAlgorithm::ALL.iter().all(|alg| SigningAlgorithm::parse(alg.as_str()) == Some(*alg)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the default, and the one algorithm OpenID Connect
    /// Core §15.1 requires every provider to support.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// Every algorithm; the server keeps an active key for each.
    pub const ALL: [SigningAlgorithm; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The `alg` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm an `alg` value names, if it is one of these.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
