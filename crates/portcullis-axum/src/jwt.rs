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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Validation};
use serde::{Deserialize, Deserializer};

/// The key set type [`JwtVerifier::from_jwks`] takes, re-exported so that hosts need not
/// depend on `jsonwebtoken` themselves.
pub use jsonwebtoken::jwk::JwkSet;

use crate::{ScopeSet, TokenInfo, Verifier, VerifyError};

/// The signature algorithms accepted, one per key type: those the Portcullis server
/// signs with. All asymmetric: RFC 9068 §4 "The resource server MUST reject any JWT in
/// which the value of "alg" is "none"", and an HMAC algorithm would need a secret shared
/// with the provider, never a published key (a verifier that took one would let anyone
/// who read the JWKS sign tokens).
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// The most a JWKS answer may weigh. A provider publishes a handful of keys; a larger
/// answer is a fault, not something to keep in memory.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
const MIN_RSA_MODULUS_BYTES: usize = 2048 / 8;

/// A fixed key set that cannot be used.
///
/// ```
/// use portcullis_axum::jwt::{JwksError, JwtVerifier};
///
/// let verifier = JwtVerifier::from_jwks_json("<html>moved</html>", "https://auth.example/o", "https://api.example/");
/// assert!(matches!(verifier, Err(JwksError::Unreadable(_))));
/// // A published HMAC secret would let anyone sign: such keys are never used.
/// let hmac = r#"{"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": "c2VjcmV0"}]}"#;
/// let verifier = JwtVerifier::from_jwks_json(hmac, "https://auth.example/o", "https://api.example/");
/// assert!(matches!(verifier, Err(JwksError::NoUsableKey)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Not a JSON Web Key Set (RFC 7517 §5): a JSON object with a `keys` array.
    #[error("not a JSON Web Key Set: {0}")]
    Unreadable(String),
    /// Every key in the set is unusable: without a `kid`, meant for encryption, or not
    /// an RS256, ES256 or EdDSA (Ed25519) public key. Such a verifier would refuse every
    /// token, which is a configuration fault better reported at start.
    #[error("the key set holds no RS256, ES256 or EdDSA signature key with a kid")]
    NoUsableKey,
}

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
    issuer: String,
    audience: String,
    leeway: Duration,
    keys: RwLock<Arc<KeySet>>,
    source: Source,
}

/// Where the keys come from.
enum Source {
    /// Given once, at construction.
    Fixed,
    /// Fetched from the provider.
    Remote(Remote),
}

struct Remote {
    url: String,
    /// The client, or why it could not be made (reported as "cannot check", per request,
    /// rather than a panic at construction).
    http: Result<reqwest::Client, String>,
    timeout: Duration,
    min_refresh_interval: Duration,
    max_key_age: Duration,
    /// Held while fetching, so that concurrent requests that need the keys wait for one
    /// fetch rather than each making their own.
    attempt: tokio::sync::Mutex<Attempt>,
}

/// The last time the keys were fetched, and why that failed if it did.
#[derive(Default)]
struct Attempt {
    at: Option<Instant>,
    failure: Option<String>,
}

impl Attempt {
    fn allowed(&self, min_interval: Duration) -> bool {
        self.at.is_none_or(|at| at.elapsed() >= min_interval)
    }
}

/// The usable keys, by `kid`. Several keys may share a `kid` if they are for different
/// algorithms; the token's `alg` picks among them.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Vec<Arc<Key>>>,
    /// When the set was fetched; `None` for a fixed set or before the first fetch.
    fetched_at: Option<Instant>,
}

/// A public key, with the one algorithm it may verify.
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
}

impl KeySet {
    fn new(jwks: &[Jwk], fetched_at: Option<Instant>) -> Self {
        let mut by_kid: HashMap<String, Vec<Arc<Key>>> = HashMap::new();
        for (kid, key) in jwks.iter().filter_map(usable) {
            by_kid.entry(kid).or_default().push(Arc::new(key));
        }
        Self { by_kid, fetched_at }
    }

    /// Reads a JWKS document. Keys this verifier cannot parse (another `kty`, an `alg`
    /// the `jsonwebtoken` crate does not know) are skipped, not fatal: providers publish
    /// encryption keys and newer key types beside their signing keys.
    fn parse(json: &[u8], fetched_at: Option<Instant>) -> Result<Self, JwksError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(json).map_err(|e| JwksError::Unreadable(e.to_string()))?;
        let jwks: Vec<Jwk> = document.keys.into_iter().filter_map(|key| serde_json::from_value(key).ok()).collect();
        Ok(Self::new(&jwks, fetched_at))
    }

    fn find(&self, kid: &str, alg: Algorithm) -> Option<Arc<Key>> {
        self.by_kid.get(kid)?.iter().find(|key| key.alg == alg).cloned()
    }

    fn len(&self) -> usize {
        self.by_kid.values().map(Vec::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// The key a JWK describes, if this verifier may use it for signatures: its `kid` and
/// the one algorithm it verifies.
fn usable(jwk: &Jwk) -> Option<(String, Key)> {
    let kid = jwk.common.key_id.clone()?;
    // RFC 7517 §4.2: "use" names the key's intended use, "sig" (signature) or "enc"
    // (encryption); §4.3: "key_ops" lists the operations it is for.
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        // Symmetric ("oct") keys never: a published secret is no secret.
        _ => return None,
    };
    // RFC 7517 §4.4: "alg" names the algorithm the key is intended for. When it names
    // one, only that one may be used with it, so that a token cannot pick another
    // algorithm the key would also fit (algorithm confusion).
    if jwk.common.key_algorithm.is_some_and(|named| named != KeyAlgorithm::from(alg)) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    // Check the key's size here: `jsonwebtoken` trusts it, and would panic verifying an
    // Ed25519 signature with a key shorter than 32 bytes.
    let sized = match (alg, decoding.kind()) {
        (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            let significant = n.iter().skip_while(|b| **b == 0).count();
            significant >= MIN_RSA_MODULUS_BYTES && e.iter().any(|b| *b != 0)
        }
        // An uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
        (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => point.len() == 65,
        (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(x)) => x.len() == 32,
        _ => false,
    };
    sized.then_some((kid, Key { alg, decoding }))
}

/// The claims read from a token. `aud` is checked by `jsonwebtoken`, and `jti` is not
/// used: a resource server has no use for it unless it tracks replays.
#[derive(Deserialize)]
struct Claims {
    /// A single string: RFC 7519 §4.1.1 makes `iss` one StringOrURI.
    iss: String,
    sub: String,
    client_id: String,
    #[serde(deserialize_with = "numeric_date")]
    exp: i64,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    nbf: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    /// Not in RFC 9068, and not in the Portcullis server's tokens (which carry no
    /// identity claims: whoever holds a JWT can read it); read when another provider
    /// puts it there. Introspection answers give the login name.
    #[serde(default)]
    username: Option<String>,
}

/// RFC 7519 §2: a NumericDate is seconds since the epoch, "non-integer values can be
/// represented"; fractions are dropped.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| number.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
        .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))
}

fn optional_numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    numeric_date(deserializer).map(Some)
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public keys and configuration only; never a token.
        let jwks = match &self.source {
            Source::Fixed => "fixed",
            Source::Remote(remote) => remote.url.as_str(),
        };
        f.debug_struct("JwtVerifier")
            .field("jwks", &jwks)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("keys", &self.cached().len())
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
        let http = reqwest::Client::builder().build().map_err(|e| format!("cannot make an HTTP client: {e}"));
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::ZERO,
            keys: RwLock::new(Arc::new(KeySet::default())),
            source: Source::Remote(Remote {
                url: jwks_url.into(),
                http,
                timeout: Duration::from_secs(5),
                min_refresh_interval: Duration::from_secs(30),
                max_key_age: Duration::from_secs(3600),
                attempt: tokio::sync::Mutex::new(Attempt::default()),
            }),
        }
    }

    /// Verifies tokens with a fixed key set and never touches the network: for tests, and
    /// for hosts that distribute the provider's keys themselves. Rotating keys then means
    /// making a new verifier. Fails if the set holds no usable key. [`JwtVerifier`]'s
    /// example makes one.
    pub fn from_jwks(jwks: &JwkSet, issuer: impl Into<String>, audience: impl Into<String>) -> Result<Self, JwksError> {
        Self::fixed(KeySet::new(&jwks.keys, None), issuer.into(), audience.into())
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
        Self::fixed(KeySet::parse(json.as_bytes(), None)?, issuer.into(), audience.into())
    }

    fn fixed(keys: KeySet, issuer: String, audience: String) -> Result<Self, JwksError> {
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Self { issuer, audience, leeway: Duration::ZERO, keys: RwLock::new(Arc::new(keys)), source: Source::Fixed })
    }

    /// How long to wait for the JWKS before giving up (and answering `503` if no cached
    /// key will do). No effect on a fixed key set. [`JwtVerifier::new`]'s example sets
    /// it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Source::Remote(remote) = &mut self.source {
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
        self.leeway = leeway;
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
    ///
    /// [`JwtVerifier::new`]'s example sets it, and shows a made-up key refused without a
    /// fetch.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        if let Source::Remote(remote) = &mut self.source {
            remote.min_refresh_interval = interval;
        }
        self
    }

    /// How long fetched keys are trusted without asking the provider again: once older,
    /// the set is fetched again (by one request, while the others carry on with the
    /// cached keys), so that a key the provider withdrew stops verifying. If the provider
    /// cannot be reached, the cached keys stay in use. No effect on a fixed key set.
    /// [`JwtVerifier::new`]'s example sets it.
    pub fn max_key_age(mut self, max_age: Duration) -> Self {
        if let Source::Remote(remote) = &mut self.source {
            remote.max_key_age = max_age;
        }
        self
    }

    fn cached(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn store(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    /// The key named `kid` for `alg`, fetching the set first if it is unknown or stale.
    /// `Err` only when it is unknown and the set cannot be fetched.
    async fn key(&self, kid: &str, alg: Algorithm) -> Result<Option<Arc<Key>>, VerifyError> {
        let Source::Remote(remote) = &self.source else {
            return Ok(self.cached().find(kid, alg));
        };
        let cached = self.cached();
        let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < remote.max_key_age);
        if let Some(key) = cached.find(kid, alg) {
            if fresh {
                return Ok(Some(key));
            }
            // Stale. One request refreshes the set; if another already is, or did a
            // moment ago, or the provider is down, the cached key serves.
            if let Ok(mut attempt) = remote.attempt.try_lock() {
                if attempt.allowed(remote.min_refresh_interval) {
                    if let Err(error) = self.refresh(remote, &mut attempt).await {
                        tracing::warn!(%error, "keeping the cached JWT signing keys");
                    }
                }
            }
            // The key, unless a refresh just found that the provider withdrew it.
            return Ok(self.cached().find(kid, alg));
        }
        // Unknown: perhaps a rotation. Wait for any fetch under way.
        let mut attempt = remote.attempt.lock().await;
        if let Some(key) = self.cached().find(kid, alg) {
            return Ok(Some(key));
        }
        if attempt.allowed(remote.min_refresh_interval) {
            self.refresh(remote, &mut attempt).await?;
            return Ok(self.cached().find(kid, alg));
        }
        match &attempt.failure {
            // The last fetch failed: this token cannot be checked.
            Some(failure) => Err(VerifyError(failure.clone())),
            // The keys are current and this is not one of them.
            None => Ok(None),
        }
    }

    /// Fetches the key set and, if it holds a usable key, caches it in place of the old
    /// one. A set with none is a failure, not a reason to forget the cached keys: a
    /// provider publishing an empty set is more likely broken than compromised.
    async fn refresh(&self, remote: &Remote, attempt: &mut Attempt) -> Result<(), VerifyError> {
        attempt.at = Some(Instant::now());
        // Failed until it succeeds: if the request that fetches is dropped half-way (its
        // client went away), those waiting must not take the empty cache for current
        // keys and refuse every token until the next fetch.
        attempt.failure = Some(format!("the fetch of the key set at {} was interrupted", remote.url));
        let fetched = remote.fetch().await.and_then(|keys| {
            if keys.is_empty() {
                Err(VerifyError(format!("the key set at {} holds no usable key", remote.url)))
            } else {
                Ok(keys)
            }
        });
        match fetched {
            Ok(keys) => {
                attempt.failure = None;
                tracing::debug!(url = %remote.url, keys = keys.len(), "fetched the JWT signing keys");
                self.store(keys);
                Ok(())
            }
            Err(error) => {
                attempt.failure = Some(error.0.clone());
                Err(error)
            }
        }
    }
}

impl Remote {
    async fn fetch(&self) -> Result<KeySet, VerifyError> {
        let http = self.http.as_ref().map_err(|e| VerifyError(e.clone()))?;
        let fail = |why: String| VerifyError(format!("JWKS at {}: {why}", self.url));
        let mut answer = http
            .get(&self.url)
            .header(http::header::ACCEPT, "application/jwk-set+json, application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| fail(without_url(&e)))?;
        let status = answer.status();
        if status != reqwest::StatusCode::OK {
            return Err(fail(format!("answered {status}")));
        }
        if answer.content_length().is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
            return Err(fail("answer too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(|e| fail(without_url(&e)))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(fail("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::parse(&body, Some(Instant::now())).map_err(|e| fail(e.to_string()))
    }
}

/// reqwest's errors name the URL; ours already do.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    text
}

/// RFC 9068 §4: "The resource server MUST verify that the "typ" header value is "at+jwt"
/// or "application/at+jwt" and reject tokens carrying any other value." `typ` is a media
/// type, and RFC 7515 §4.1.9: "Per RFC 2045, all media type values, subtype values, and
/// parameter names are case insensitive", so `AT+JWT` is the same type. This keeps ID
/// tokens, signed with the same keys but typed `JWT`, from being taken for access
/// tokens (RFC 9068 §5).
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Refuses a token, saying why in the debug log; never the token itself.
fn refused(reason: &'static str) -> Option<TokenInfo> {
    tracing::debug!(reason, "JWT access token refused");
    None
}

/// Why `jsonwebtoken` refused a token, in words that cannot carry any of its contents.
fn reason(error: &jsonwebtoken::errors::Error) -> &'static str {
    match error.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAudience => "aud does not name this API",
        ErrorKind::InvalidIssuer => "iss is another issuer",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "alg does not fit the key",
        _ => "malformed token or claims",
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Verifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        // The header first, unverified: it says which key to check the rest with. Nothing
        // that fails here leads to a fetch of the keys.
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(refused("not a JWS in compact form"));
        };
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Ok(refused("typ is not at+jwt"));
        }
        // `none` does not even parse as a `jsonwebtoken` algorithm; HMAC and the others
        // the kit does not take stop here.
        if !ACCEPTED.contains(&header.alg) {
            return Ok(refused("alg is not RS256, ES256 or EdDSA"));
        }
        let Some(kid) = header.kid.as_deref() else {
            return Ok(refused("no kid"));
        };
        // RFC 9068 §4: "The resource server MUST use the keys provided by the
        // authorization server." The key must also be for the token's `alg`.
        let Some(key) = self.key(kid, header.alg).await? else {
            return Ok(refused("no key with this kid for this alg"));
        };
        // `jsonwebtoken` panics without exactly one crypto provider, which another crate
        // in the build could cause by enabling its `aws_lc_rs` feature too.
        if CryptoProvider::try_get_default().is_none() {
            return Err(VerifyError("jsonwebtoken has no crypto provider (both or neither of its backends)".into()));
        }

        // RFC 9068 §4: "The resource server MUST validate the signature of all incoming
        // JWT access tokens according to [RFC7515] using the algorithm specified in the
        // JWT "alg" Header Parameter", which must be the key's.
        let mut validation = Validation::new(key.alg);
        // RFC 9068 §4: "The issuer identifier for the authorization server (which is
        // typically obtained during discovery) MUST exactly match the value of the "iss"
        // claim." Checked again below, as one string.
        validation.set_issuer(&[&self.issuer]);
        // RFC 9068 §4: "The resource server MUST validate that the "aud" claim contains
        // a resource indicator value corresponding to an identifier the resource server
        // expects for itself." `aud` may be one string or an array (RFC 7519 §4.1.3).
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Times are checked below: `jsonwebtoken` accepts a token in the very second of
        // its `exp`, which RFC 9068 does not.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let claims = match jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
            Ok(data) => data.claims,
            Err(error) => return Ok(refused(reason(&error))),
        };
        if claims.iss != self.issuer {
            return Ok(refused("iss is another issuer"));
        }
        let now = unix_now();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        // RFC 9068 §4: "The current time MUST be before the time represented by the "exp"
        // claim."
        if now.saturating_sub(leeway) >= claims.exp {
            return Ok(refused("expired"));
        }
        // RFC 7519 §4.1.5: "the current date/time MUST be after or equal to the
        // not-before date/time listed in the "nbf" claim".
        if claims.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Ok(refused("not valid yet (nbf)"));
        }
        // RFC 9068 §2.2.3: "scope" is a space-delimited list, as in RFC 6749 §3.3.
        let Ok(scope) = ScopeSet::parse(claims.scope.as_deref().unwrap_or_default()) else {
            return Ok(refused("scope is not an RFC 6749 scope string"));
        };
        // RFC 9068 §2.2: "In cases of access tokens obtained through grants where no
        // resource owner is involved, such as the client credentials grant, the value of
        // "sub" SHOULD correspond to an identifier the authorization server uses to
        // indicate the client application."
        let user_id = (claims.sub != claims.client_id).then_some(claims.sub);
        Ok(Some(TokenInfo {
            scope,
            client_id: claims.client_id,
            user_id,
            username: claims.username,
            expires_at: claims.exp,
            issued_at: claims.iat.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::extract::State;
    use axum::routing::get;
    use axum::Router;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use http::{Request, StatusCode};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::{Authenticated, TokenVerifier};

    use super::*;

    const ISSUER: &str = "http://127.0.0.1:8000/o";
    const AUDIENCE: &str = "https://api.example/";

    /// A key as the provider holds it, and its public JWK as the provider publishes it:
    /// made as `portcullis::oidc::keys` makes its own.
    struct SigningKey {
        alg: Algorithm,
        kid: String,
        encoding: EncodingKey,
        jwk: Jwk,
    }

    impl SigningKey {
        fn es256(kid: &str) -> Self {
            use p256::elliptic_curve::Generate;
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
            Self::new(Algorithm::ES256, kid, EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes()))
        }

        fn ed25519(kid: &str) -> Self {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let key = ed25519_dalek::SigningKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
            let bytes = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
            Self::new(Algorithm::EdDSA, kid, EncodingKey::from_ed_der(bytes.to_pkcs8_der().unwrap().as_bytes()))
        }

        fn rs256(kid: &str) -> Self {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::PrivateKey::new(&mut rand_core::UnwrapErr(getrandom::SysRng), 2048).unwrap();
            Self::new(Algorithm::RS256, kid, EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes()))
        }

        fn new(alg: Algorithm, kid: &str, encoding: EncodingKey) -> Self {
            let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
            jwk.common.key_id = Some(kid.into());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            Self { alg, kid: kid.into(), encoding, jwk }
        }

        /// The header the provider writes: RFC 9068 §2.1.
        fn header(&self) -> Header {
            let mut header = Header::new(self.alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(self.kid.clone());
            header
        }

        fn sign(&self, claims: &Value) -> String {
            self.sign_with(&self.header(), claims)
        }

        fn sign_with(&self, header: &Header, claims: &Value) -> String {
            jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
        }
    }

    fn jwks(keys: &[&SigningKey]) -> JwkSet {
        JwkSet { keys: keys.iter().map(|k| k.jwk.clone()).collect() }
    }

    /// The claims the provider writes for a user's token (RFC 9068 §2.2).
    fn claims() -> Value {
        let now = unix_now();
        json!({
            "iss": ISSUER, "exp": now + 300, "iat": now, "aud": AUDIENCE, "sub": "7", "client_id": "c",
            "jti": "j-1", "scope": "read write", "username": "alice", "auth_time": now - 60,
        })
    }

    /// [`claims`] with some changed; `null` removes one.
    fn claims_with(changes: Value) -> Value {
        let mut claims = claims();
        if let (Value::Object(claims), Value::Object(changes)) = (&mut claims, changes) {
            for (name, value) in changes {
                if value.is_null() {
                    claims.remove(&name);
                } else {
                    claims.insert(name, value);
                }
            }
        }
        claims
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn fixed(keys: &[&SigningKey]) -> JwtVerifier {
        JwtVerifier::from_jwks(&jwks(keys), ISSUER, AUDIENCE).unwrap()
    }

    async fn accepts(verifier: &JwtVerifier, token: &str) -> bool {
        match verifier.verify(token).await {
            Ok(info) => info.is_some(),
            Err(e) => panic!("could not check: {e}"),
        }
    }

    #[tokio::test]
    async fn valid_tokens_become_token_info() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        let info = verifier.verify(&key.sign(&claims())).await.unwrap().unwrap();
        assert_eq!(info.client_id, "c");
        assert_eq!((info.user_id.as_deref(), info.username.as_deref()), (Some("7"), Some("alice")));
        assert_eq!(info.scope.to_string(), "read write");
        assert_eq!(info.expires_at, claims()["exp"].as_i64().unwrap());
        assert!(info.issued_at > 0);

        // A client's own token (client credentials): sub is the client, no user.
        let own = claims_with(json!({"sub": "c", "username": null, "scope": "groups"}));
        let info = verifier.verify(&key.sign(&own)).await.unwrap().unwrap();
        assert_eq!((info.user_id, info.username), (None, None));
        assert!(info.scope.contains("groups"));

        // EdDSA keys, and a token without scope (an empty set) or iat.
        let ed = SigningKey::ed25519("k2");
        let verifier = fixed(&[&key, &ed]);
        let info = verifier.verify(&ed.sign(&claims_with(json!({"scope": null, "iat": null})))).await.unwrap().unwrap();
        assert!(info.scope.is_empty() && info.issued_at == 0);
    }

    #[tokio::test]
    async fn rs256_tokens_verify() {
        let key = SigningKey::rs256("rsa");
        let verifier = fixed(&[&key]);
        let token = key.sign(&claims());
        assert!(accepts(&verifier, &token).await);
        // The same token with another payload under the same signature.
        let other = key.sign(&claims_with(json!({"scope": "admin"})));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2]);
        assert!(!accepts(&verifier, &forged).await);
    }

    #[tokio::test]
    async fn rfc9068_4_typ_must_be_at_jwt_or_application_at_jwt() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
            let header = Header { typ: Some(typ.into()), ..key.header() };
            assert!(accepts(&verifier, &key.sign_with(&header, &claims())).await, "{typ}");
        }
        // "reject tokens carrying any other value": an ID token's JWT above all.
        for typ in [Some("JWT"), Some("jwt"), Some("application/jwt"), Some("at+jwt "), Some(""), None] {
            let header = Header { typ: typ.map(Into::into), ..key.header() };
            assert!(!accepts(&verifier, &key.sign_with(&header, &claims())).await, "{typ:?}");
        }
    }

    #[tokio::test]
    async fn rfc9068_4_signature_must_be_by_the_providers_key() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        assert!(accepts(&verifier, &key.sign(&claims())).await);
        // Another key, claiming the provider's kid.
        let impostor = SigningKey::es256("k1");
        assert!(!accepts(&verifier, &impostor.sign(&claims())).await);
        let impostor = SigningKey::ed25519("k2");
        let verifier = fixed(&[&key, &SigningKey::ed25519("k2")]);
        assert!(!accepts(&verifier, &impostor.sign(&claims())).await);
        // No kid: the key cannot be found.
        let header = Header { kid: None, ..key.header() };
        assert!(!accepts(&verifier, &key.sign_with(&header, &claims())).await);
    }

    #[tokio::test]
    async fn rfc9068_4_alg_none_is_refused() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        let valid = key.sign(&claims());
        let signature = valid.split('.').nth(2).unwrap();
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k1"});
            for sig in ["", signature] {
                let token = format!("{}.{}.{sig}", b64(&header), b64(&claims()));
                assert!(!accepts(&verifier, &token).await, "{alg} {sig:?}");
            }
        }
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_refused() {
        // The classic confusion: a verifier that fed the published key to HMAC would
        // accept a token anyone can make.
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        let AlgorithmParameters::EllipticCurve(ec) = &key.jwk.algorithm else { panic!("an EC key") };
        let point =
            [vec![4u8], URL_SAFE_NO_PAD.decode(&ec.x).unwrap(), URL_SAFE_NO_PAD.decode(&ec.y).unwrap()].concat();
        let jwk_json = serde_json::to_vec(&key.jwk).unwrap();
        for (alg, secret) in [
            (Algorithm::HS256, point.as_slice()),
            (Algorithm::HS256, jwk_json.as_slice()),
            (Algorithm::HS384, point.as_slice()),
            (Algorithm::HS512, point.as_slice()),
        ] {
            let header = Header { alg, ..key.header() };
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret).unwrap()).unwrap();
            assert!(!accepts(&verifier, &token).await, "{alg:?}");
        }
        assert!(accepts(&verifier, &key.sign(&claims())).await);
    }

    #[tokio::test]
    async fn alg_must_be_the_one_the_jwk_names() {
        let key = SigningKey::es256("k1");
        let other = SigningKey::ed25519("k2");
        let token = key.sign(&claims());
        assert!(accepts(&fixed(&[&key, &other]), &token).await);
        // The same key, published for ES384 only: the ES256 token is not for it.
        let mut es384 = jwks(&[&key, &other]);
        es384.keys[0].common.key_algorithm = Some(KeyAlgorithm::ES384);
        let verifier = JwtVerifier::from_jwks(&es384, ISSUER, AUDIENCE).unwrap();
        assert!(!accepts(&verifier, &token).await);
        // A header naming another algorithm than the key's, with a signature by that
        // algorithm under the same kid.
        let verifier = fixed(&[&key, &other]);
        let impostor = SigningKey::ed25519("k1");
        assert!(!accepts(&verifier, &impostor.sign(&claims())).await);
        // A JWK naming an algorithm that does not fit its key type is not used.
        let mut mismatched = jwks(&[&key, &other]);
        mismatched.keys[0].common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        let verifier = JwtVerifier::from_jwks(&mismatched, ISSUER, AUDIENCE).unwrap();
        assert!(!accepts(&verifier, &token).await);
    }

    #[tokio::test]
    async fn rfc9068_4_iss_must_match_exactly() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        assert!(accepts(&verifier, &key.sign(&claims())).await);
        for iss in [json!("http://127.0.0.1:8000/o/"), json!("http://127.0.0.1:9000/o"), json!([ISSUER]), json!(null)] {
            assert!(!accepts(&verifier, &key.sign(&claims_with(json!({"iss": iss.clone()})))).await, "{iss}");
        }
    }

    #[tokio::test]
    async fn rfc9068_4_aud_must_contain_this_api() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        // One string, or an array that holds it (RFC 7519 §4.1.3).
        for aud in [json!(AUDIENCE), json!(["https://other.example/", AUDIENCE])] {
            assert!(accepts(&verifier, &key.sign(&claims_with(json!({"aud": aud.clone()})))).await, "{aud}");
        }
        for aud in [json!("https://other.example/"), json!(["https://other.example/"]), json!([]), json!(null)] {
            assert!(!accepts(&verifier, &key.sign(&claims_with(json!({"aud": aud.clone()})))).await, "{aud}");
        }
    }

    #[tokio::test]
    async fn rfc9068_4_current_time_must_be_before_exp() {
        let key = SigningKey::es256("k1");
        let now = unix_now();
        let verifier = fixed(&[&key]);
        assert!(accepts(&verifier, &key.sign(&claims_with(json!({"exp": now + 5})))).await);
        // "before": a token is dead in the very second of its exp.
        for exp in [json!(now), json!(now - 5), json!(null), json!("tomorrow")] {
            assert!(!accepts(&verifier, &key.sign(&claims_with(json!({"exp": exp.clone()})))).await, "{exp}");
        }
        // "Implementers MAY provide for some small leeway".
        let lenient = fixed(&[&key]).leeway(Duration::from_secs(10));
        assert!(accepts(&lenient, &key.sign(&claims_with(json!({"exp": now - 5})))).await);
        assert!(!accepts(&lenient, &key.sign(&claims_with(json!({"exp": now - 30})))).await);
        // NumericDate may be fractional (RFC 7519 §2).
        assert!(accepts(&verifier, &key.sign(&claims_with(json!({"exp": now as f64 + 60.5})))).await);
    }

    #[tokio::test]
    async fn rfc7519_4_1_5_nbf_in_the_future_is_refused() {
        let key = SigningKey::es256("k1");
        let now = unix_now();
        let verifier = fixed(&[&key]);
        assert!(accepts(&verifier, &key.sign(&claims_with(json!({"nbf": now - 1})))).await);
        assert!(!accepts(&verifier, &key.sign(&claims_with(json!({"nbf": now + 60})))).await);
    }

    #[tokio::test]
    async fn sub_client_id_and_a_valid_scope_are_required() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        for change in [
            json!({"sub": null}),
            json!({"client_id": null}),
            json!({"sub": 7}),
            json!({"scope": "read \"write\""}),
            json!({"scope": ["read"]}),
        ] {
            assert!(!accepts(&verifier, &key.sign(&claims_with(change.clone()))).await, "{change}");
        }
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused_not_errors() {
        let key = SigningKey::es256("k1");
        let verifier = fixed(&[&key]);
        let valid = key.sign(&claims());
        let truncated = &valid[..valid.len() - 5];
        let header = valid.split('.').next().unwrap();
        let two_parts = valid.rsplit_once('.').unwrap().0;
        let four_parts = format!("{valid}.x");
        let not_json = format!("{}.{}.", URL_SAFE_NO_PAD.encode("not json"), URL_SAFE_NO_PAD.encode("{}"));
        let array_header = format!("{}.{}.", URL_SAFE_NO_PAD.encode("[]"), URL_SAFE_NO_PAD.encode("{}"));
        let bad_payload = format!("{header}.!!!.{}", valid.split('.').nth(2).unwrap());
        for token in [
            "",
            ".",
            "..",
            "abc",
            "a.b",
            "a.b.c",
            truncated,
            two_parts,
            &four_parts,
            &not_json,
            &array_header,
            &bad_payload,
        ] {
            assert!(matches!(verifier.verify(token).await, Ok(None)), "{token}");
        }
    }

    #[tokio::test]
    async fn unusable_keys_are_skipped_not_trusted() {
        let good = SigningKey::es256("good");
        let ed = SigningKey::ed25519("short");
        // An Ed25519 key too short to be one (`jsonwebtoken` would panic on it).
        let mut short = ed.jwk.clone();
        if let AlgorithmParameters::OctetKeyPair(okp) = &mut short.algorithm {
            okp.x = URL_SAFE_NO_PAD.encode([1u8; 16]);
        }
        // A key for encryption, not signatures (RFC 7517 §4.2).
        let enc_key = SigningKey::es256("enc");
        let mut enc = enc_key.jwk.clone();
        enc.common.public_key_use = Some(PublicKeyUse::Encryption);
        let set = JwkSet { keys: vec![good.jwk.clone(), short, enc] };
        let verifier = JwtVerifier::from_jwks(&set, ISSUER, AUDIENCE).unwrap();
        assert!(accepts(&verifier, &good.sign(&claims())).await);
        assert!(!accepts(&verifier, &ed.sign(&claims())).await);
        assert!(!accepts(&verifier, &enc_key.sign(&claims())).await);
        assert!(format!("{verifier:?}").contains("keys: 1"));

        // A set of only such keys is a configuration fault.
        let set = JwkSet {
            keys: vec![enc_key.jwk.clone()]
                .into_iter()
                .map(|mut k| {
                    k.common.key_id = None;
                    k
                })
                .collect(),
        };
        assert!(matches!(JwtVerifier::from_jwks(&set, ISSUER, AUDIENCE), Err(JwksError::NoUsableKey)));
        assert!(matches!(JwtVerifier::from_jwks_json("nope", ISSUER, AUDIENCE), Err(JwksError::Unreadable(_))));
        // Keys of kinds the kit does not know sit beside the ones it uses.
        let json = json!({"keys": [
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "use": "enc"},
            {"kty": "oct", "kid": "hmac", "k": URL_SAFE_NO_PAD.encode(b"secret"), "alg": "HS256"},
            {"kty": "RSA", "kid": "enc", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB", "use": "enc"},
            {"kty": "EC", "crv": "P-521", "kid": "big", "x": "AA", "y": "AA"},
            good.jwk,
        ]});
        let verifier = JwtVerifier::from_jwks_json(&json.to_string(), ISSUER, AUDIENCE).unwrap();
        assert!(accepts(&verifier, &good.sign(&claims())).await);
        let hmac = Header { alg: Algorithm::HS256, kid: Some("hmac".into()), ..good.header() };
        let forged = jsonwebtoken::encode(&hmac, &claims(), &EncodingKey::from_secret(b"secret").unwrap()).unwrap();
        assert!(!accepts(&verifier, &forged).await);
    }

    /// A provider that publishes whatever the test says, counting requests.
    #[derive(Clone, Default)]
    struct Provider {
        answer: Arc<Mutex<(u16, String)>>,
        delay: Arc<Mutex<Duration>>,
        hits: Arc<AtomicUsize>,
    }

    impl Provider {
        fn publish(&self, keys: &[&SigningKey]) {
            self.answer_with(200, &serde_json::to_string(&jwks(keys)).unwrap());
        }

        fn answer_with(&self, status: u16, body: &str) {
            *self.answer.lock().unwrap() = (status, body.into());
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        /// Serves the JWKS over loopback HTTP; the URL to fetch it at.
        async fn serve(&self) -> String {
            async fn jwks(State(provider): State<Provider>) -> (StatusCode, String) {
                provider.hits.fetch_add(1, Ordering::SeqCst);
                let delay = *provider.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                let (status, body) = provider.answer.lock().unwrap().clone();
                (StatusCode::from_u16(status).unwrap(), body)
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let app = Router::new().route("/o/.well-known/jwks.json", get(jwks)).with_state(self.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://{address}/o/.well-known/jwks.json")
        }
    }

    /// A loopback URL that nothing listens at.
    fn nobody_home() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}/o/.well-known/jwks.json")
    }

    #[tokio::test]
    async fn keys_are_fetched_on_first_use_and_cached() {
        let key = SigningKey::es256("k1");
        let provider = Provider::default();
        provider.publish(&[&key]);
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE);
        // Tokens refused on their header alone fetch nothing.
        let id_token = key.sign_with(&Header { typ: Some("JWT".into()), ..key.header() }, &claims());
        for garbage in ["", "abc", "a.b.c", id_token.as_str()] {
            assert!(!accepts(&verifier, garbage).await);
        }
        assert_eq!(provider.hits(), 0);
        assert!(accepts(&verifier, &key.sign(&claims())).await);
        assert_eq!(provider.hits(), 1);
        assert!(accepts(&verifier, &key.sign(&claims_with(json!({"jti": "j-2"})))).await);
        assert_eq!(provider.hits(), 1, "cached");
    }

    #[tokio::test]
    async fn concurrent_first_use_fetches_once() {
        let key = SigningKey::ed25519("k1");
        let provider = Provider::default();
        provider.publish(&[&key]);
        *provider.delay.lock().unwrap() = Duration::from_millis(100);
        let verifier = Arc::new(JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE));
        let token = key.sign(&claims());
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (verifier, token) = (verifier.clone(), token.clone());
            tasks.spawn(async move { verifier.verify(&token).await.map(|info| info.is_some()) });
        }
        while let Some(result) = tasks.join_next().await {
            assert!(result.unwrap().unwrap());
        }
        assert_eq!(provider.hits(), 1);
    }

    #[tokio::test]
    async fn an_unknown_kid_fetches_the_keys_again_after_a_rotation() {
        let (old, new) = (SigningKey::es256("old"), SigningKey::es256("new"));
        let provider = Provider::default();
        provider.publish(&[&old]);
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE).min_refresh_interval(Duration::ZERO);
        assert!(accepts(&verifier, &old.sign(&claims())).await);
        // The provider rotates, keeping the retired key published.
        provider.publish(&[&new, &old]);
        assert!(accepts(&verifier, &new.sign(&claims())).await);
        assert_eq!(provider.hits(), 2);
        assert!(accepts(&verifier, &old.sign(&claims())).await);
        assert_eq!(provider.hits(), 2);
        // Then withdraws it: the next fetch forgets it.
        provider.publish(&[&new]);
        assert!(!accepts(&verifier, &SigningKey::es256("newer").sign(&claims())).await);
        assert_eq!(provider.hits(), 3);
        assert!(!accepts(&verifier, &old.sign(&claims())).await);
        assert!(accepts(&verifier, &new.sign(&claims())).await);
    }

    #[tokio::test]
    async fn unknown_kids_fetch_at_most_once_per_min_refresh_interval() {
        let (key, rotated) = (SigningKey::es256("k1"), SigningKey::es256("k2"));
        // Signed beforehand: the timing below is the verifier's, not the signing's.
        let (token, rotated_token) = (key.sign(&claims()), rotated.sign(&claims()));
        let stranger = SigningKey::es256("x");
        let made_up: Vec<String> = (0..20)
            .map(|i| stranger.sign_with(&Header { kid: Some(format!("made-up-{i}")), ..stranger.header() }, &claims()))
            .collect();
        let provider = Provider::default();
        provider.publish(&[&key]);
        let interval = Duration::from_secs(1);
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE).min_refresh_interval(interval);
        assert!(accepts(&verifier, &token).await);
        // A flood of well-formed tokens with made-up kids: refused, and no fetch.
        for token in &made_up {
            assert!(!accepts(&verifier, token).await);
        }
        assert_eq!(provider.hits(), 1);
        // The price: a rotation within the interval is seen only once it has passed.
        provider.publish(&[&rotated, &key]);
        assert!(!accepts(&verifier, &rotated_token).await);
        assert_eq!(provider.hits(), 1);
        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        assert!(accepts(&verifier, &rotated_token).await);
        assert_eq!(provider.hits(), 2);
        // And the next made-up kid waits for the next interval.
        assert!(!accepts(&verifier, &made_up[0]).await);
        assert_eq!(provider.hits(), 2);
    }

    #[tokio::test]
    async fn keys_older_than_max_key_age_are_fetched_again() {
        let key = SigningKey::es256("k1");
        let token = key.sign(&claims());
        let provider = Provider::default();
        provider.publish(&[&key]);
        let max_age = Duration::from_millis(600);
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE)
            .min_refresh_interval(Duration::ZERO)
            .max_key_age(max_age);
        assert!(accepts(&verifier, &token).await);
        assert!(accepts(&verifier, &token).await);
        assert_eq!(provider.hits(), 1);
        tokio::time::sleep(max_age + Duration::from_millis(100)).await;
        assert!(accepts(&verifier, &token).await);
        assert_eq!(provider.hits(), 2);
        // A key the provider withdrew stops verifying once the cache is renewed.
        provider.publish(&[&SigningKey::es256("k2")]);
        tokio::time::sleep(max_age + Duration::from_millis(100)).await;
        assert!(!accepts(&verifier, &token).await);
        assert_eq!(provider.hits(), 3);
    }

    #[tokio::test]
    async fn provider_down_is_an_error_for_unknown_keys_only() {
        let (key, rotated) = (SigningKey::es256("k1"), SigningKey::es256("k2"));
        let provider = Provider::default();
        provider.publish(&[&key]);
        // Every request would refresh the keys if it could.
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE)
            .min_refresh_interval(Duration::ZERO)
            .max_key_age(Duration::ZERO);
        let token = key.sign(&claims());
        assert!(accepts(&verifier, &token).await);
        provider.answer_with(500, "down");
        // A cached key keeps verifying offline, good tokens and bad.
        assert!(accepts(&verifier, &token).await);
        assert!(!accepts(&verifier, &key.sign(&claims_with(json!({"aud": "other"})))).await);
        assert_eq!(provider.hits(), 3, "a refresh was tried each time");
        // An unknown key cannot be checked: an error, never a refusal, and no token in it.
        let unknown = rotated.sign(&claims());
        let error = verifier.verify(&unknown).await.unwrap_err();
        assert!(error.0.contains("500"), "{error}");
        assert!(!error.0.contains(&unknown) && !error.0.contains(unknown.split('.').nth(1).unwrap()));
        // Garbage is still garbage.
        assert!(matches!(verifier.verify("a.b.c").await, Ok(None)));
        // Back up, with the rotated key.
        provider.publish(&[&rotated, &key]);
        assert!(accepts(&verifier, &unknown).await);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_retried_within_the_interval() {
        let key = SigningKey::es256("k1");
        let provider = Provider::default();
        provider.answer_with(503, "starting");
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE);
        let token = key.sign(&claims());
        assert!(verifier.verify(&token).await.is_err());
        provider.publish(&[&key]);
        assert!(verifier.verify(&token).await.is_err(), "the failure stands until the interval passes");
        assert_eq!(provider.hits(), 1);
    }

    #[tokio::test]
    async fn an_interrupted_fetch_counts_as_failed() {
        let key = SigningKey::es256("k1");
        let token = key.sign(&claims());
        let provider = Provider::default();
        provider.publish(&[&key]);
        *provider.delay.lock().unwrap() = Duration::from_millis(500);
        let verifier = JwtVerifier::new(provider.serve().await, ISSUER, AUDIENCE);
        // The request that fetches is dropped half-way, as when its client goes away.
        assert!(tokio::time::timeout(Duration::from_millis(100), verifier.verify(&token)).await.is_err());
        // The keys were not had: "cannot check", not "no such key".
        assert!(verifier.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn unreachable_slow_or_garbled_providers_are_errors() {
        let token = SigningKey::es256("k1").sign(&claims());
        let refused = JwtVerifier::new(nobody_home(), ISSUER, AUDIENCE);
        assert!(refused.verify(&token).await.is_err());

        let provider = Provider::default();
        let url = provider.serve().await;
        for (status, body) in [(200, "not json"), (200, "{\"keys\": []}"), (200, "{}"), (404, "no")] {
            provider.answer_with(status, body);
            let verifier = JwtVerifier::new(url.clone(), ISSUER, AUDIENCE);
            assert!(verifier.verify(&token).await.is_err(), "{status} {body}");
        }

        provider.publish(&[&SigningKey::es256("k1")]);
        *provider.delay.lock().unwrap() = Duration::from_secs(5);
        let slow = JwtVerifier::new(url, ISSUER, AUDIENCE).timeout(Duration::from_millis(200));
        let started = Instant::now();
        assert!(slow.verify(&token).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn extractors_answer_401_for_a_bad_jwt_and_503_without_keys() {
        let key = SigningKey::es256("k1");
        let app = |verifier: JwtVerifier| {
            Router::new()
                .route("/any", get(|_: Authenticated| async { "ok" }))
                .with_state(TokenVerifier::new(Arc::new(verifier), "api"))
        };
        let call = |app: Router, token: String| async move {
            let request = Request::get("/any").header("authorization", format!("Bearer {token}"));
            let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), challenge)
        };
        let valid = key.sign(&claims());
        assert_eq!(call(app(fixed(&[&key])), valid.clone()).await.0, StatusCode::OK);
        let expired = key.sign(&claims_with(json!({"exp": unix_now() - 10})));
        let (status, challenge) = call(app(fixed(&[&key])), expired).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\", error=\"invalid_token\""));
        let (status, challenge) = call(app(JwtVerifier::new(nobody_home(), ISSUER, AUDIENCE)), valid).await;
        assert_eq!((status, challenge), (StatusCode::SERVICE_UNAVAILABLE, None));
    }

    #[test]
    fn debug_names_the_configuration() {
        let verifier = JwtVerifier::new("http://127.0.0.1:1/o/.well-known/jwks.json", ISSUER, AUDIENCE);
        let text = format!("{verifier:?}");
        assert!(text.contains("jwks.json") && text.contains(ISSUER) && text.contains("keys: 0"), "{text}");
    }
}
