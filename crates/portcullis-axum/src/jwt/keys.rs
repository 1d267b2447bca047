//! The provider's signing keys as the verifier holds them: read from a JWKS (RFC 7517
//! §5), the unusable ones dropped, fetched from the provider's `jwks_uri` on first use,
//! and fetched again for an unknown `kid` or once they are old, within limits that keep
//! made-up key ids from making the verifier hammer the provider.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

use crate::VerifyError;

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

/// The keys a verifier checks signatures with, and where they come from.
pub(super) struct Keys {
    cache: RwLock<Arc<KeySet>>,
    source: Source,
}

/// Where the keys come from.
enum Source {
    /// Given once, at construction.
    Fixed,
    /// Fetched from the provider.
    Remote(Remote),
}

/// How to fetch the keys from the provider, and how often.
pub(super) struct Remote {
    url: String,
    /// The client, or why it could not be made (reported as "cannot check", per request,
    /// rather than a panic at construction).
    http: Result<reqwest::Client, String>,
    /// How long to wait for the JWKS.
    pub(super) timeout: Duration,
    /// The least time between two fetches.
    pub(super) min_refresh_interval: Duration,
    /// How long fetched keys are trusted without asking again.
    pub(super) max_key_age: Duration,
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
pub(super) struct Key {
    pub(super) alg: Algorithm,
    pub(super) decoding: DecodingKey,
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

impl Keys {
    /// Keys fetched from `url` when first needed. Defaults: 5 seconds to fetch them, at
    /// most one fetch every 30 seconds for an unknown `kid`, and a fetch anyway once
    /// they are an hour old.
    pub(super) fn remote(url: String) -> Self {
        let http = reqwest::Client::builder().build().map_err(|e| format!("cannot make an HTTP client: {e}"));
        Self {
            cache: RwLock::new(Arc::new(KeySet::default())),
            source: Source::Remote(Remote {
                url,
                http,
                timeout: Duration::from_secs(5),
                min_refresh_interval: Duration::from_secs(30),
                max_key_age: Duration::from_secs(3600),
                attempt: tokio::sync::Mutex::new(Attempt::default()),
            }),
        }
    }

    /// The usable keys of `jwks`, never fetched again; none is an error.
    pub(super) fn fixed(jwks: &[Jwk]) -> Result<Self, JwksError> {
        Self::fixed_set(KeySet::new(jwks, None))
    }

    /// [`Keys::fixed`] from the JSON of a JWKS document.
    pub(super) fn fixed_json(json: &str) -> Result<Self, JwksError> {
        Self::fixed_set(KeySet::parse(json.as_bytes(), None)?)
    }

    fn fixed_set(keys: KeySet) -> Result<Self, JwksError> {
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Self { cache: RwLock::new(Arc::new(keys)), source: Source::Fixed })
    }

    /// The fetching settings, for keys that are fetched.
    pub(super) fn remote_mut(&mut self) -> Option<&mut Remote> {
        match &mut self.source {
            Source::Remote(remote) => Some(remote),
            Source::Fixed => None,
        }
    }

    /// Where the keys come from, for `Debug`: the JWKS URL, or `fixed`.
    pub(super) fn origin(&self) -> &str {
        match &self.source {
            Source::Fixed => "fixed",
            Source::Remote(remote) => &remote.url,
        }
    }

    /// How many usable keys are cached.
    pub(super) fn len(&self) -> usize {
        self.cached().len()
    }

    fn cached(&self) -> Arc<KeySet> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn store(&self, keys: KeySet) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    /// The key named `kid` for `alg`, fetching the set first if it is unknown or stale.
    /// `Err` only when it is unknown and the set cannot be fetched.
    pub(super) async fn key(&self, kid: &str, alg: Algorithm) -> Result<Option<Arc<Key>>, VerifyError> {
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
