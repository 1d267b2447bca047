//! A [`Verifier`] for JWT access tokens (RFC 9068): it checks a token's signature and
//! claims locally against the provider's published keys (its JWKS, RFC 7517 §5), so an
//! API can verify tokens without a round trip to the provider per request, and keeps
//! verifying while the provider is down.
//!
//! The price of checking offline is that a revoked token stays valid here until its
//! `exp`; keep access tokens short-lived, or use `IntrospectionVerifier` (feature
//! `introspection`) where revocation must be honoured at once.
//!
//! The keys are fetched from the provider's `jwks_uri` on first use and cached. A token
//! signed with a key the cache does not know (the provider rotated its keys) makes the
//! verifier fetch the set again, at most once per `min_refresh_interval`, so that tokens
//! with made-up key ids cannot make it hammer the provider; the set is also fetched
//! again once it is older than `max_key_age`, so that keys the provider withdrew stop
//! being trusted. [`JwtVerifier::from_jwks`] takes a fixed set instead, and never goes
//! to the network.
//!
//! When the keys cannot be had (the provider is down, too slow, or answers something
//! other than a key set) and none of the cached ones is the token's, [`Verifier::verify`]
//! fails and the extractors answer `503`, not `401`: the token may be perfectly good. A
//! token signed with a cached key is checked as usual whatever the provider's state.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use portcullis_axum::{JwtVerifier, TokenVerifier};
//!
//! let jwt = JwtVerifier::new(
//!     "https://auth.example/o/.well-known/jwks.json",
//!     "https://auth.example/o",
//!     "https://api.example/",
//! )
//! .timeout(Duration::from_secs(2))
//! .leeway(Duration::from_secs(5));
//! let verifier = TokenVerifier::new(Arc::new(jwt), "api");
//! ```

mod claims;
mod keys;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

/// The key set type [`JwtVerifier::from_jwks`] takes, re-exported so that hosts need not
/// depend on `jsonwebtoken` themselves.
pub use jsonwebtoken::jwk::JwkSet;
pub use keys::JwksError;

use self::claims::{Expected, Refusal};
use self::keys::Keys;
use crate::{TokenInfo, Verifier, VerifyError};

/// Checks JWT access tokens (RFC 9068) locally against the provider's keys. See the
/// module documentation.
///
/// Here the provider's key set is given ([`JwtVerifier::from_jwks`]), and the tokens
/// are signed as the provider signs them:
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
///
/// use jsonwebtoken::jwk::{Jwk, JwkSet};
/// use jsonwebtoken::{Algorithm, Header};
/// use portcullis_axum::{JwtVerifier, Verifier};
/// use serde_json::json;
///
/// # fn provider_key() -> Result<jsonwebtoken::EncodingKey, Box<dyn std::error::Error>> {
/// #     use ed25519_dalek::pkcs8::EncodePrivateKey as _;
/// #     let key = ed25519_dalek::SigningKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
/// #     let pair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
/// #     Ok(jsonwebtoken::EncodingKey::from_ed_der(pair.to_pkcs8_der()?.as_bytes()))
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The provider's Ed25519 key, and its public half as its JWKS publishes it.
/// let signing = provider_key()?;
/// let mut public = Jwk::from_encoding_key(&signing, Algorithm::EdDSA)?;
/// public.common.key_id = Some("k1".into());
/// let jwks = JwkSet { keys: vec![public] };
/// let verifier = JwtVerifier::from_jwks(&jwks, "https://auth.example/o", "https://api.example/")?;
///
/// // RFC 9068 §2: the header and claims of a JWT access token.
/// let mut header = Header::new(Algorithm::EdDSA);
/// header.typ = Some("at+jwt".into());
/// header.kid = Some("k1".into());
/// let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
/// let mut claims = json!({
///     "iss": "https://auth.example/o", "aud": "https://api.example/", "sub": "7",
///     "client_id": "photos-app", "scope": "read write", "exp": now + 300, "iat": now, "jti": "t-1",
/// });
/// let token = jsonwebtoken::encode(&header, &claims, &signing)?;
/// let info = verifier.verify(&token).await?;
/// assert_eq!(info.as_ref().map(|t| (t.client_id.as_str(), t.user_id.as_deref())), Some(("photos-app", Some("7"))));
/// assert!(info.is_some_and(|t| t.scope.contains("write")));
///
/// // RFC 9068 §4: a token for another API is refused, and so is an ID token (`typ` JWT).
/// claims["aud"] = json!("https://billing.example/");
/// assert_eq!(verifier.verify(&jsonwebtoken::encode(&header, &claims, &signing)?).await?, None);
/// header.typ = Some("JWT".into());
/// claims["aud"] = json!("https://api.example/");
/// assert_eq!(verifier.verify(&jsonwebtoken::encode(&header, &claims, &signing)?).await?, None);
/// # Ok(())
/// # }
/// ```
pub struct JwtVerifier {
    expected: Expected,
    keys: Keys,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public keys and configuration only; never a token.
        f.debug_struct("JwtVerifier")
            .field("jwks", &self.keys.origin())
            .field("issuer", &self.expected.issuer)
            .field("audience", &self.expected.audience)
            .field("leeway", &self.expected.leeway)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Verifies tokens from `issuer` (compared exactly with their `iss`, RFC 9068 §4)
    /// meant for `audience` (one of their `aud`), with the keys published at `jwks_url`
    /// (the provider's `jwks_uri`; for Portcullis, `{issuer}/.well-known/jwks.json`).
    /// Nothing is fetched until the first token arrives.
    ///
    /// Defaults: 5 seconds to fetch the keys, no leeway on `exp`, the keys fetched again
    /// for an unknown `kid` at most every 30 seconds, and fetched again anyway once they
    /// are an hour old.
    ///
    /// Here a stand-in for the provider publishes its key set on loopback:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    ///
    /// use axum::{routing::get, Json, Router};
    /// use jsonwebtoken::jwk::{Jwk, JwkSet};
    /// use jsonwebtoken::{Algorithm, Header};
    /// use portcullis_axum::{JwtVerifier, Verifier};
    /// use serde_json::json;
    ///
    /// # fn provider_key() -> Result<jsonwebtoken::EncodingKey, Box<dyn std::error::Error>> {
    /// #     use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    /// #     let key = ed25519_dalek::SigningKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    /// #     let pair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    /// #     Ok(jsonwebtoken::EncodingKey::from_ed_der(pair.to_pkcs8_der()?.as_bytes()))
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let signing = provider_key()?;
    /// let mut public = Jwk::from_encoding_key(&signing, Algorithm::EdDSA)?;
    /// public.common.key_id = Some("k1".into());
    /// let jwks = JwkSet { keys: vec![public] };
    ///
    /// // The provider's `/o/.well-known/jwks.json`, counting the fetches.
    /// let fetches = Arc::new(AtomicUsize::new(0));
    /// let counter = fetches.clone();
    /// let provider = Router::new().route(
    ///     "/o/.well-known/jwks.json",
    ///     get(move || async move {
    ///         counter.fetch_add(1, Ordering::SeqCst);
    ///         Json(jwks)
    ///     }),
    /// );
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let issuer = format!("http://{}/o", listener.local_addr()?);
    /// tokio::spawn(async move { axum::serve(listener, provider).await });
    ///
    /// let verifier = JwtVerifier::new(format!("{issuer}/.well-known/jwks.json"), &issuer, "https://api.example/")
    ///     .timeout(Duration::from_secs(2))
    ///     .min_refresh_interval(Duration::from_secs(30))
    ///     .max_key_age(Duration::from_secs(3600));
    /// assert_eq!(fetches.load(Ordering::SeqCst), 0, "nothing fetched before the first token");
    ///
    /// let mut header = Header::new(Algorithm::EdDSA);
    /// header.typ = Some("at+jwt".into());
    /// header.kid = Some("k1".into());
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    /// for jti in ["t-1", "t-2"] {
    ///     let claims = json!({
    ///         "iss": issuer, "aud": "https://api.example/", "sub": "7", "client_id": "photos-app",
    ///         "scope": "read", "exp": now + 300, "iat": now, "jti": jti,
    ///     });
    ///     let token = jsonwebtoken::encode(&header, &claims, &signing)?;
    ///     assert!(verifier.verify(&token).await?.is_some());
    /// }
    /// assert_eq!(fetches.load(Ordering::SeqCst), 1, "the keys are cached");
    ///
    /// // A key the provider does not publish: refused, and no fetch within the interval.
    /// header.kid = Some("made-up".into());
    /// let claims = json!({
    ///     "iss": issuer, "aud": "https://api.example/", "sub": "7", "client_id": "photos-app",
    ///     "exp": now + 300,
    /// });
    /// assert_eq!(verifier.verify(&jsonwebtoken::encode(&header, &claims, &signing)?).await?, None);
    /// assert_eq!(fetches.load(Ordering::SeqCst), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(jwks_url: impl Into<String>, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self { expected: Expected::new(issuer.into(), audience.into()), keys: Keys::remote(jwks_url.into()) }
    }

    /// Verifies tokens with a fixed key set and never touches the network: for tests, and
    /// for hosts that distribute the provider's keys themselves. Rotating keys then means
    /// making a new verifier. Fails if the set holds no usable key.
    pub fn from_jwks(jwks: &JwkSet, issuer: impl Into<String>, audience: impl Into<String>) -> Result<Self, JwksError> {
        Ok(Self { expected: Expected::new(issuer.into(), audience.into()), keys: Keys::fixed(&jwks.keys)? })
    }

    /// [`JwtVerifier::from_jwks`], with the key set as the JSON the provider publishes.
    /// Keys of other kinds or uses may sit beside the signing keys; they are skipped.
    ///
    /// ```
    /// use portcullis_axum::JwtVerifier;
    ///
    /// // The Ed25519 public key of RFC 8037, Appendix A.2, beside an X25519 encryption key.
    /// let published = r#"{"keys": [
    ///     {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig",
    ///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    ///     {"kty": "OKP", "crv": "X25519", "kid": "e1", "use": "enc",
    ///      "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}
    /// ]}"#;
    /// let verifier = JwtVerifier::from_jwks_json(published, "https://auth.example/o", "https://api.example/")?;
    /// assert!(format!("{verifier:?}").contains("keys: 1"));
    /// # Ok::<(), portcullis_axum::jwt::JwksError>(())
    /// ```
    pub fn from_jwks_json(
        json: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        Ok(Self { expected: Expected::new(issuer.into(), audience.into()), keys: Keys::fixed_json(json)? })
    }

    /// How long to wait for the JWKS before giving up (and answering `503` if no cached
    /// key will do). No effect on a fixed key set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Some(remote) = self.keys.remote_mut() {
            remote.timeout = timeout;
        }
        self
    }

    /// How long after its `exp` a token is still accepted, in whole seconds. None by
    /// default: RFC 9068 §4, "The current time MUST be before the time represented by
    /// the "exp" claim. Implementers MAY provide for some small leeway, usually no more
    /// than a few minutes, to account for clock skew." A host whose clock runs ahead of
    /// the provider's would otherwise refuse tokens in the last seconds of their life;
    /// a few seconds is plenty where clocks are kept by NTP. The same leeway applies to
    /// `nbf`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    ///
    /// use jsonwebtoken::jwk::{Jwk, JwkSet};
    /// use jsonwebtoken::{Algorithm, Header};
    /// use portcullis_axum::{JwtVerifier, Verifier};
    /// use serde_json::json;
    ///
    /// # fn provider_key() -> Result<jsonwebtoken::EncodingKey, Box<dyn std::error::Error>> {
    /// #     use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    /// #     let key = ed25519_dalek::SigningKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    /// #     let pair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    /// #     Ok(jsonwebtoken::EncodingKey::from_ed_der(pair.to_pkcs8_der()?.as_bytes()))
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let signing = provider_key()?;
    /// let mut public = Jwk::from_encoding_key(&signing, Algorithm::EdDSA)?;
    /// public.common.key_id = Some("k1".into());
    /// let jwks = JwkSet { keys: vec![public] };
    /// let strict = JwtVerifier::from_jwks(&jwks, "https://auth.example/o", "https://api.example/")?;
    /// let lenient = JwtVerifier::from_jwks(&jwks, "https://auth.example/o", "https://api.example/")?
    ///     .leeway(Duration::from_secs(5));
    ///
    /// // A token that expired two seconds ago, by this host's clock.
    /// let mut header = Header::new(Algorithm::EdDSA);
    /// header.typ = Some("at+jwt".into());
    /// header.kid = Some("k1".into());
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    /// let claims = json!({
    ///     "iss": "https://auth.example/o", "aud": "https://api.example/", "sub": "7",
    ///     "client_id": "photos-app", "scope": "read", "exp": now - 2, "iat": now - 300,
    /// });
    /// let token = jsonwebtoken::encode(&header, &claims, &signing)?;
    /// assert_eq!(strict.verify(&token).await?, None);
    /// assert!(lenient.verify(&token).await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.expected.leeway = leeway;
        self
    }

    /// The least time between two fetches of the JWKS. A token naming a key the cache
    /// does not know makes the verifier fetch the set again (the provider may have
    /// rotated its keys), but not sooner than this after the last fetch, whether it
    /// worked or not: tokens with made-up key ids get `401`, a provider that is down gets
    /// asked again only this often, and the verifier answers `503` for unknown keys in
    /// between. Zero lifts the limit. No effect on a fixed key set.
    ///
    /// The price: a token signed with a key the provider started using less than this
    /// after the last fetch is refused until the interval has passed. A provider that
    /// publishes a new key a while before signing with it avoids that.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        if let Some(remote) = self.keys.remote_mut() {
            remote.min_refresh_interval = interval;
        }
        self
    }

    /// How long fetched keys are trusted without asking the provider again: once older,
    /// the set is fetched again (by one request, while the others carry on with the
    /// cached keys), so that a key the provider withdrew stops verifying. If the provider
    /// cannot be reached, the cached keys stay in use. No effect on a fixed key set.
    pub fn max_key_age(mut self, max_age: Duration) -> Self {
        if let Some(remote) = self.keys.remote_mut() {
            remote.max_key_age = max_age;
        }
        self
    }
}

/// Refuses a token, saying why in the debug log; never the token itself.
fn refused(reason: Refusal) -> Option<TokenInfo> {
    tracing::debug!(reason, "JWT access token refused");
    None
}

/// The time claims are checked at: this host's clock, in seconds since the Unix epoch.
fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Verifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        // Nothing refused on its header leads to a fetch of the keys.
        let (kid, alg) = match claims::header(token) {
            Ok(named) => named,
            Err(reason) => return Ok(refused(reason)),
        };
        // RFC 9068 §4: "The resource server MUST use the keys provided by the
        // authorization server." The key must also be for the token's `alg`.
        let Some(key) = self.keys.key(&kid, alg).await? else {
            return Ok(refused("no key with this kid for this alg"));
        };
        let signed = match claims::signed_claims(token, &key, &self.expected)? {
            Ok(signed) => signed,
            Err(reason) => return Ok(refused(reason)),
        };
        Ok(claims::check(signed, &self.expected, unix_now()).map_or_else(refused, Some))
    }
}
