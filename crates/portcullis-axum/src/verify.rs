use std::sync::Arc;

use async_trait::async_trait;

use crate::ScopeSet;

/// What a valid access token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The scopes the token was granted.
    pub scope: ScopeSet,
    /// The client the token was issued to.
    pub client_id: String,
    /// The user the token acts for, as the provider's `sub` (the user's id as a
    /// string); `None` for a token a client got for itself (client credentials).
    pub user_id: Option<String>,
    /// The user's login name, when the token acts for a user.
    pub username: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
    /// Issue time, seconds since the Unix epoch.
    pub issued_at: i64,
}

/// The token could not be checked at all (the provider or its database is down). This
/// is not a verdict on the token: resource servers answer `503`, never `401`.
#[derive(Debug, thiserror::Error)]
#[error("token verification unavailable: {0}")]
pub struct VerifyError(pub String);

/// Decides whether a bearer token is currently valid. The kit has two (introspection
/// and JWT), the Portcullis server a third (its store); a program with tokens of its
/// own writes one like this:
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use portcullis_axum::{ScopeSet, TokenInfo, TokenVerifier, Verifier, VerifyError};
///
/// /// One fixed token, for a demo.
/// struct Demo;
///
/// #[async_trait]
/// impl Verifier for Demo {
///     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
///         Ok((token == "let-me-in").then(|| TokenInfo {
///             scope: ScopeSet::from_tokens(["read"]),
///             client_id: "demo".into(),
///             user_id: Some("1".into()),
///             username: Some("ada".into()),
///             expires_at: i64::MAX,
///             issued_at: 0,
///         }))
///     }
/// }
///
/// let verifier = TokenVerifier::new(Arc::new(Demo), "demo");
/// assert_eq!(verifier.realm(), "demo");
/// ```
#[async_trait]
pub trait Verifier: Send + Sync + 'static {
    /// `Ok(None)` for a token that is unknown, expired or revoked.
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError>;
}

/// A shareable handle on a [`Verifier`], with the realm named in challenges. Put it in
/// your state (or make it reachable with `FromRef`) and the extractors find it.
#[derive(Clone)]
pub struct TokenVerifier {
    verifier: Arc<dyn Verifier>,
    realm: Arc<str>,
}

impl TokenVerifier {
    /// `realm` appears in every `WWW-Authenticate` challenge (RFC 6750 §3). Characters
    /// that cannot appear in a quoted-string are dropped.
    pub fn new(verifier: Arc<dyn Verifier>, realm: &str) -> Self {
        let realm: String = realm.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect();
        Self { verifier, realm: realm.into() }
    }

    /// The realm named in challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Asks the verifier about `token`; see [`Verifier::verify`].
    pub async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        self.verifier.verify(token).await
    }
}
