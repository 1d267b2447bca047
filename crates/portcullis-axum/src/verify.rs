use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{AuthError, AuthErrorKind};
use crate::{ProtectedResource, ScopeSet};

/// What a valid access token stands for: what the extractors hand a handler, and what
/// a [`Verifier`] answers for a good token.
///
/// ```
/// use portcullis_axum::{ScopeSet, TokenInfo};
///
/// /// Who to name in an audit log: the user, or the client acting for itself.
/// fn actor(token: &TokenInfo) -> String {
///     match (&token.username, &token.user_id) {
///         (Some(name), Some(id)) => format!("user {name} ({id}) via {}", token.client_id),
///         _ => format!("client {}", token.client_id),
///     }
/// }
///
/// let token = TokenInfo {
///     scope: ScopeSet::from_tokens(["read"]),
///     client_id: "reports".into(),
///     user_id: None,
///     username: None,
///     expires_at: 1_700_003_600,
///     issued_at: 1_700_000_000,
///     audience: Vec::new(),
/// };
/// assert_eq!(actor(&token), "client reports");
/// let token = TokenInfo { user_id: Some("7".into()), username: Some("ada".into()), ..token };
/// assert_eq!(actor(&token), "user ada (7) via reports");
/// ```
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
    /// The resources the token is bound to (RFC 8707), as their URIs; empty when it is
    /// bound to none. A [`TokenVerifier`] that protects a [`ProtectedResource`] refuses
    /// a token whose audience does not name it.
    pub audience: Vec<String>,
}

/// The token could not be checked at all (the provider or its database is down). This
/// is not a verdict on the token: resource servers answer `503`, never `401`. Its
/// message goes to the log, never to the client, so it may name the provider but must
/// not hold the token.
///
/// ```
/// use std::sync::Arc;
///
/// use async_trait::async_trait;
/// use axum::body::Body;
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use portcullis_axum::{Authenticated, TokenInfo, TokenVerifier, Verifier, VerifyError};
/// use tower::ServiceExt; // `oneshot`, to call the router without a server
///
/// /// A verifier whose database is down.
/// struct Down;
///
/// #[async_trait]
/// impl Verifier for Down {
///     async fn verify(&self, _token: &str) -> Result<Option<TokenInfo>, VerifyError> {
///         Err(VerifyError("tokens database unreachable".into()))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = Router::new()
///     .route("/", get(|_: Authenticated| async { "ok" }))
///     .with_state(TokenVerifier::new(Arc::new(Down), "api"));
/// let request = Request::get("/").header("authorization", "Bearer mF_9.B5f-4.1JqM").body(Body::empty())?;
/// let response = app.oneshot(request).await?;
/// // The token may be perfectly good: no challenge, so the client retries it later.
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert!(!response.headers().contains_key("www-authenticate"));
/// # Ok(())
/// # }
/// ```
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
///             audience: Vec::new(),
///         }))
///     }
/// }
///
/// let verifier = TokenVerifier::new(Arc::new(Demo), "demo");
/// assert_eq!(verifier.realm(), "demo");
/// ```
#[async_trait]
pub trait Verifier: Send + Sync + 'static {
    /// `Ok(None)` for a token that is unknown, expired or revoked; `Err` when it cannot
    /// be told (see [`VerifyError`]).
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError>;
}

/// A shareable handle on a [`Verifier`], with the realm named in challenges. Put it in
/// your state (or make it reachable with `FromRef`) and the extractors find it; or ask
/// it yourself, where no extractor fits:
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis_axum::TokenVerifier;
/// # use async_trait::async_trait;
/// # use portcullis_axum::{ScopeSet, TokenInfo, Verifier, VerifyError};
/// # struct Demo;
/// # #[async_trait]
/// # impl Verifier for Demo {
/// #     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
/// #         Ok((token == "let-me-in").then(|| TokenInfo {
/// #             scope: ScopeSet::from_tokens(["read"]),
/// #             client_id: "demo".into(),
/// #             user_id: Some("7".into()),
/// #             username: Some("ada".into()),
/// #             expires_at: i64::MAX,
/// #             issued_at: 0,
/// #             audience: Vec::new(),
/// #         }))
/// #     }
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), portcullis_axum::VerifyError> {
/// // `Demo` is a `Verifier` that knows one token, `let-me-in`, of user ada.
/// let verifier = TokenVerifier::new(Arc::new(Demo), "api");
/// let shared = verifier.clone(); // cheap: one verifier behind both
/// let answer = shared.verify("let-me-in").await?;
/// assert_eq!(answer.as_ref().and_then(|token| token.username.as_deref()), Some("ada"));
/// assert!(answer.is_some_and(|token| token.scope.contains("read")));
/// assert_eq!(verifier.verify("guess").await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    verifier: Arc<dyn Verifier>,
    realm: Arc<str>,
    resource: Option<Arc<ProtectedResource>>,
}

impl TokenVerifier {
    /// `realm` appears in every `WWW-Authenticate` challenge (RFC 6750 §3). Characters
    /// that cannot appear in a quoted-string are dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use portcullis_axum::TokenVerifier;
    /// # use async_trait::async_trait;
    /// # use portcullis_axum::{ScopeSet, TokenInfo, Verifier, VerifyError};
    /// # struct Demo;
    /// # #[async_trait]
    /// # impl Verifier for Demo {
    /// #     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
    /// #         Ok((token == "let-me-in").then(|| TokenInfo {
    /// #             scope: ScopeSet::from_tokens(["read"]),
    /// #             client_id: "demo".into(),
    /// #             user_id: Some("7".into()),
    /// #             username: Some("ada".into()),
    /// #             expires_at: i64::MAX,
    /// #             issued_at: 0,
    /// #             audience: Vec::new(),
    /// #         }))
    /// #     }
    /// # }
    ///
    /// assert_eq!(TokenVerifier::new(Arc::new(Demo), "photos").realm(), "photos");
    /// // RFC 7230 §3.2.6: a quote or backslash would end or escape the quoted-string.
    /// assert_eq!(TokenVerifier::new(Arc::new(Demo), "say \"hi\"\n").realm(), "say hi");
    /// ```
    pub fn new(verifier: Arc<dyn Verifier>, realm: &str) -> Self {
        let realm: String = realm.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect();
        Self { verifier, realm: realm.into(), resource: None }
    }

    /// The same verifier, guarding the protected resource `resource` (RFC 9728): tokens
    /// bound to other resources are refused ([`ProtectedResource::admits`]), whichever
    /// [`Verifier`] checked them, and every challenge names the resource's metadata
    /// (`resource_metadata`, RFC 9728 §5.1) and, for `401` and `403`, the scopes the
    /// request needs.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use portcullis_axum::{ProtectedResource, TokenVerifier};
    /// # use async_trait::async_trait;
    /// # use portcullis_axum::{ScopeSet, TokenInfo, Verifier, VerifyError};
    /// # struct Demo;
    /// # #[async_trait]
    /// # impl Verifier for Demo {
    /// #     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
    /// #         let audience = match token {
    /// #             "for-photos" => vec!["https://api.example/photos".into()],
    /// #             "for-billing" => vec!["https://api.example/billing".into()],
    /// #             _ => Vec::new(),
    /// #         };
    /// #         Ok(Some(TokenInfo {
    /// #             scope: ScopeSet::from_tokens(["read"]),
    /// #             client_id: "demo".into(),
    /// #             user_id: None,
    /// #             username: None,
    /// #             expires_at: i64::MAX,
    /// #             issued_at: 0,
    /// #             audience,
    /// #         }))
    /// #     }
    /// # }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // `Demo` knows three tokens: one bound to the photos API, one bound to the billing
    /// // API, and one bound to no resource.
    /// let photos = ProtectedResource::new("https://api.example/photos")?;
    /// let verifier = TokenVerifier::new(Arc::new(Demo), "photos").protecting(photos.clone());
    /// assert!(verifier.verify("for-photos").await?.is_some());
    /// assert_eq!(verifier.verify("for-billing").await?, None, "RFC 8707: another resource's token");
    /// assert!(verifier.verify("unbound").await?.is_some());
    /// let strict = TokenVerifier::new(Arc::new(Demo), "photos").protecting(photos.strict_audience(true));
    /// assert_eq!(strict.verify("unbound").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn protecting(mut self, resource: ProtectedResource) -> Self {
        self.resource = Some(Arc::new(resource));
        self
    }

    /// The realm named in challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The protected resource this verifier guards, if it was given one.
    pub fn resource(&self) -> Option<&ProtectedResource> {
        self.resource.as_deref()
    }

    /// A refusal in this verifier's words: its realm, and its resource's metadata URL
    /// when it guards one. What the extractors answer with, and what a handler that
    /// checks more than they do should answer with too.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use portcullis_axum::error::AuthErrorKind;
    /// use portcullis_axum::{ProtectedResource, TokenVerifier};
    /// # use async_trait::async_trait;
    /// # use portcullis_axum::{TokenInfo, Verifier, VerifyError};
    /// # struct Demo;
    /// # #[async_trait]
    /// # impl Verifier for Demo {
    /// #     async fn verify(&self, _token: &str) -> Result<Option<TokenInfo>, VerifyError> { Ok(None) }
    /// # }
    ///
    /// let photos = ProtectedResource::new("https://api.example/photos")?;
    /// let verifier = TokenVerifier::new(Arc::new(Demo), "photos").protecting(photos);
    /// assert_eq!(
    ///     verifier.refuse(AuthErrorKind::InsufficientScope("admin".into())).challenge(),
    ///     r#"Bearer realm="photos", error="insufficient_scope", scope="admin", resource_metadata="https://api.example/.well-known/oauth-protected-resource/photos""#
    /// );
    /// # Ok::<(), portcullis_axum::resource::InvalidResource>(())
    /// ```
    pub fn refuse(&self, kind: AuthErrorKind) -> AuthError {
        let error = AuthError::new(kind, &self.realm);
        match &self.resource {
            Some(resource) => error.with_resource_metadata(resource.metadata_url()),
            None => error,
        }
    }

    /// Asks the verifier about `token`; see [`Verifier::verify`]. When this verifier
    /// guards a [`ProtectedResource`], a token bound to other resources is `Ok(None)`,
    /// whatever the verifier said: the one place the audience is checked, for every
    /// kind of verifier.
    pub async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        let info = self.verifier.verify(token).await?;
        let Some(resource) = &self.resource else { return Ok(info) };
        Ok(info.filter(|info| {
            let admitted = resource.admits(&info.audience);
            if !admitted {
                // The audience is not secret, but the log needs no more than the verdict.
                tracing::debug!(resource = resource.uri(), "access token refused: bound to other resources");
            }
            admitted
        }))
    }
}
