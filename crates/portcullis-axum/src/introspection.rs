//! A [`Verifier`] for APIs that do not share the provider's database: it asks the
//! provider's introspection endpoint (RFC 7662 §2) whether a token is active, as
//! django-oauth-toolkit's `RESOURCE_SERVER_INTROSPECTION_URL` does.
//!
//! Answers are cached, keyed by the token's SHA-256 (the cache holds no token), for at
//! most `max_age` and never past the token's own `exp`: a revoked token is refused once
//! its entry ends, and at once with `max_age` zero. RFC 7662 §4: "the cache expiration
//! time … should be set to be shorter than the token's expiration time", and caching
//! is a trade between load on the provider and how soon a revocation is honoured.
//!
//! When the provider cannot be asked (down, too slow, or answering something other than
//! `200`), [`Verifier::verify`] fails, and the extractors answer `503`, not `401`: the
//! token may be perfectly good.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use portcullis_axum::{IntrospectionVerifier, TokenVerifier};
//!
//! let introspection = IntrospectionVerifier::new("https://auth.example/o/introspect/", "api-client", "api-secret")
//!     .max_age(Duration::from_secs(30))
//!     .timeout(Duration::from_secs(2));
//! let verifier = TokenVerifier::new(Arc::new(introspection), "api");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::wire::Introspection;
use crate::{ScopeSet, TokenInfo, Verifier, VerifyError};

/// Entries kept at most; a full cache is emptied rather than tracked for eviction, which
/// keeps memory bounded when many distinct tokens are presented.
const MAX_ENTRIES: usize = 65_536;

/// Checks tokens by introspection, with a bounded cache. See the module documentation.
///
/// Here a stand-in for the provider answers on loopback, and two verifiers ask it: one
/// that trusts an answer for 30 seconds and one that asks every time.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use axum::extract::{Form, State};
/// use axum::{routing::post, Json, Router};
/// use portcullis_axum::wire::Introspection;
/// use portcullis_axum::{IntrospectionVerifier, Verifier};
///
/// /// The provider's `/o/introspect/`: the token `good` is active until revoked.
/// async fn introspect(
///     State(revoked): State<Arc<AtomicBool>>,
///     Form(form): Form<HashMap<String, String>>,
/// ) -> Json<Introspection> {
///     if form.get("token").map(String::as_str) == Some("good") && !revoked.load(Ordering::SeqCst) {
///         Json(Introspection {
///             active: true,
///             scope: Some("read".into()),
///             client_id: Some("photos-app".into()),
///             exp: Some(4_102_444_800), // 2100
///             ..Introspection::inactive()
///         })
///     } else {
///         Json(Introspection::inactive())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let revoked = Arc::new(AtomicBool::new(false));
/// let provider = Router::new().route("/o/introspect/", post(introspect)).with_state(revoked.clone());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let endpoint = format!("http://{}/o/introspect/", listener.local_addr()?);
/// tokio::spawn(async move { axum::serve(listener, provider).await });
///
/// let cached = IntrospectionVerifier::new(endpoint.clone(), "photos-api", "photos-api-secret")
///     .max_age(Duration::from_secs(30))
///     .timeout(Duration::from_secs(2));
/// let uncached = IntrospectionVerifier::new(endpoint, "photos-api", "photos-api-secret").max_age(Duration::ZERO);
/// assert!(cached.verify("good").await?.is_some_and(|token| token.scope.contains("read")));
/// assert!(uncached.verify("good").await?.is_some());
/// assert_eq!(cached.verify("forged").await?, None);
///
/// // The token is revoked at the provider. The cached answer stands until it is 30
/// // seconds old (or the token expires); the other verifier sees the change at once.
/// revoked.store(true, Ordering::SeqCst);
/// assert!(cached.verify("good").await?.is_some());
/// assert_eq!(uncached.verify("good").await?, None);
/// # Ok(())
/// # }
/// ```
pub struct IntrospectionVerifier {
    endpoint: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    timeout: Duration,
    max_age: Duration,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

/// An answer, kept until the instant it stops being trusted.
type Cached = (Instant, Option<TokenInfo>);

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the client secret.
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// Asks `endpoint` (the provider's `/o/introspect/`), authenticating with HTTP Basic
    /// as the confidential client `client_id`. Defaults: answers cached for 10 seconds,
    /// 5 seconds to answer.
    pub fn new(endpoint: impl Into<String>, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            http: reqwest::Client::new(),
            timeout: Duration::from_secs(5),
            max_age: Duration::from_secs(10),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How long an answer is trusted; zero turns the cache off.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How long to wait for the provider before giving up (and answering `503`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Option<TokenInfo>> {
        let cache = self.cache.lock().ok()?;
        cache.get(key).filter(|(until, _)| Instant::now() < *until).map(|(_, info)| info.clone())
    }

    fn remember(&self, key: [u8; 32], info: &Option<TokenInfo>) {
        let mut lifetime = self.max_age;
        if let Some(info) = info {
            // Never past the token's own expiry.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            lifetime = lifetime.min(Duration::from_secs(info.expires_at.saturating_sub(now).max(0) as u64));
        }
        if lifetime.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (Instant::now() + lifetime, info.clone()));
        }
    }

    async fn ask(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        let answer = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| VerifyError(format!("introspection at {} failed: {}", self.endpoint, without_url(&e))))?;
        let status = answer.status();
        if !status.is_success() {
            // 401 here means this API's own credentials are wrong: a configuration
            // fault, not a verdict on the token.
            return Err(VerifyError(format!("introspection at {} answered {status}", self.endpoint)));
        }
        let body: Introspection = answer
            .json()
            .await
            .map_err(|e| VerifyError(format!("introspection answer unreadable: {}", without_url(&e))))?;
        Ok(token_info(body))
    }
}

/// reqwest's errors name the URL; ours already does, and say nothing else of the
/// request (the token travels in the body, never in the URL).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    text
}

/// An active answer as a [`TokenInfo`]; `None` for an inactive one, or one that lacks
/// what the extractors need (the scope and the client). Its `aud` becomes the token's
/// audience, checked by the [`TokenVerifier`](crate::TokenVerifier) that guards a
/// resource.
fn token_info(answer: Introspection) -> Option<TokenInfo> {
    if !answer.active {
        return None;
    }
    let client_id = answer.client_id?;
    // `sub` is the user for a user's token and the client for a client's own.
    let user_id = answer.username.as_ref().and(answer.sub).filter(|sub| *sub != client_id);
    Some(TokenInfo {
        scope: ScopeSet::parse(answer.scope.as_deref().unwrap_or_default()).ok()?,
        client_id,
        user_id,
        username: answer.username,
        expires_at: answer.exp.unwrap_or(i64::MAX),
        issued_at: answer.iat.unwrap_or_default(),
        audience: answer.aud.map(crate::wire::Audience::into_uris).unwrap_or_default(),
    })
}

#[async_trait]
impl Verifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(info) = self.cached(&key) {
            return Ok(info);
        }
        let info = self.ask(token).await?;
        self.remember(key, &info);
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Audience;

    #[test]
    fn answers_become_token_info() {
        assert_eq!(token_info(Introspection::inactive()), None);
        let user = Introspection {
            active: true,
            scope: Some("read write".into()),
            client_id: Some("c".into()),
            username: Some("alice".into()),
            token_type: Some("Bearer".into()),
            exp: Some(100),
            iat: Some(10),
            sub: Some("7".into()),
            aud: None,
        };
        let info = token_info(user.clone()).unwrap_or_else(|| panic!("active"));
        assert_eq!((info.user_id.as_deref(), info.username.as_deref()), (Some("7"), Some("alice")));
        assert!(info.scope.contains("write") && info.expires_at == 100);
        assert!(info.audience.is_empty(), "no aud: bound to no resource");
        // RFC 7662 §2.2 "aud": one audience as a string, several as an array.
        let one = Introspection { aud: Some(Audience::One("https://a.example/".into())), ..user.clone() };
        assert_eq!(token_info(one).map(|i| i.audience), Some(vec!["https://a.example/".to_owned()]));
        let two = Audience::Many(vec!["https://a.example/".into(), "https://b.example/".into()]);
        let two = Introspection { aud: Some(two), ..user.clone() };
        assert_eq!(token_info(two).map(|i| i.audience.len()), Some(2));
        // A client's own token: sub is the client, no user.
        let own = Introspection { username: None, sub: Some("c".into()), ..user.clone() };
        assert_eq!(token_info(own).and_then(|i| i.user_id), None);
        // Active but without a client: not usable.
        assert_eq!(token_info(Introspection { client_id: None, ..user }), None);
    }

    /// A provider's introspection endpoint on loopback: `photos` is bound to the photos
    /// API, `billing` to the billing API, `unbound` to no resource (no `aud`).
    async fn provider() -> String {
        use axum::routing::post;
        use axum::{Form, Json, Router};

        async fn introspect(Form(form): Form<HashMap<String, String>>) -> Json<Introspection> {
            let aud = match form.get("token").map(String::as_str) {
                Some("photos") => Some(Audience::One(PHOTOS.into())),
                Some("billing") => Some(Audience::Many(vec![BILLING.into()])),
                Some("unbound") => None,
                _ => return Json(Introspection::inactive()),
            };
            let scope = Some("read".into());
            Json(Introspection { active: true, scope, client_id: Some("app".into()), aud, ..Introspection::inactive() })
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/o/introspect/", listener.local_addr().unwrap());
        let router = Router::new().route("/o/introspect/", post(introspect));
        tokio::spawn(async move { axum::serve(listener, router).await });
        endpoint
    }

    const PHOTOS: &str = "https://api.example/photos";
    const BILLING: &str = "https://api.example/billing";

    #[tokio::test]
    async fn rfc8707_a_guarded_resource_takes_only_tokens_whose_aud_names_it() {
        let endpoint = provider().await;
        let guarded = |strict: bool| {
            let introspection = IntrospectionVerifier::new(endpoint.clone(), "api", "secret");
            let photos = crate::ProtectedResource::new(PHOTOS).unwrap().strict_audience(strict);
            crate::TokenVerifier::new(std::sync::Arc::new(introspection), "photos").protecting(photos)
        };
        let (lenient, strict) = (guarded(false), guarded(true));
        // RFC 7662 §2.2 "aud": the audience of the token, here the resources it is for.
        let info = lenient.verify("photos").await.unwrap();
        assert_eq!(info.map(|i| i.audience), Some(vec![PHOTOS.to_owned()]));
        assert_eq!(lenient.verify("billing").await.unwrap(), None, "bound to another resource");
        assert!(lenient.verify("unbound").await.unwrap().is_some(), "bound to none");
        assert!(strict.verify("photos").await.unwrap().is_some());
        assert_eq!(strict.verify("unbound").await.unwrap(), None, "strict: bound to none is refused");
        assert_eq!(strict.verify("billing").await.unwrap(), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let v = IntrospectionVerifier::new("http://127.0.0.1:1/o/introspect/", "c", "s3cr3t-value");
        assert!(!format!("{v:?}").contains("s3cr3t-value"));
    }
}
