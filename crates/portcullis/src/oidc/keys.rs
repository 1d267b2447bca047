//! Signing keys for ID tokens: made on first start (one per algorithm), kept in the
//! database so every instance signs with the same keys, sealed at rest when the settings
//! give a key-encryption key, and rotated by `portcullis keys rotate`.
//!
//! A rotated-out key is retired, not deleted: its public half stays in the JWKS for as
//! long as a token it signed can still be valid, so relying parties that cached a token
//! can still check it. A new key is published [`PUBLISH_AHEAD`] before it signs
//! anything: verifiers that cache the key set (relying parties, and resource servers
//! checking JWT access tokens offline) refetch it when a token names an unknown key,
//! but only so often, and a key they have never seen must not reach them before they
//! may look again. Each process reads the keys again at most [`RELOAD_AFTER`] after
//! it last did, so a rotation made by another process (the command line beside a running
//! server, or another instance) takes effect there within that time.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Serialize;

use crate::proto::SigningAlgorithm;
use crate::store::{NewSigningKey, SigningKeyRecord, Store, StoreError};

/// How long a process trusts the keys it read: the bound on how late it sees a rotation
/// made elsewhere.
///
/// ```
/// use portcullis::oidc::keys::{KeyRing, RELOAD_AFTER};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// // The server's keys, and the command line's beside it on the same database.
/// let server = KeyRing::new(store.clone(), None, 36000);
/// let command_line = KeyRing::new(store, None, 36000);
/// let now = 1_700_000_000;
/// server.ensure(now).await?;
/// assert_eq!(server.jwks(now).await?.keys.len(), 3);
/// command_line.rotate(now).await?;
/// // The server sees the rotation once what it read is RELOAD_AFTER old.
/// tokio::time::sleep(RELOAD_AFTER + std::time::Duration::from_millis(100)).await;
/// assert_eq!(server.jwks(now).await?.keys.len(), 6);
/// # Ok(())
/// # }
/// ```
pub const RELOAD_AFTER: Duration = Duration::from_secs(1);

/// Seconds a new key is published before it signs, by default (the setting
/// `oidc.key_publish_ahead_seconds`); the retired key signs until then.
/// Longer than the interval at which `portcullis-axum`'s `JwtVerifier` may refetch keys
/// for an unknown `kid` (30 s by default): any fetch since the new key was published
/// has it, and any earlier one is old enough to be repeated when the key first appears.
///
/// ```
/// use portcullis::oidc::keys::{KeyRing, PUBLISH_AHEAD};
/// use portcullis::proto::SigningAlgorithm;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let keys = KeyRing::new(store, None, 36000);
/// let kid = |jws: &str| jsonwebtoken::decode_header(jws).ok().and_then(|header| header.kid);
/// let claims = serde_json::json!({ "sub": "42" });
/// let now = 1_700_000_000;
/// keys.ensure(now).await?;
/// let old = kid(&keys.sign(SigningAlgorithm::Es256, &claims, now + 600).await?);
///
/// keys.rotate(now + 600).await?;
/// // Published at once, signing only PUBLISH_AHEAD later: the old key signs until then.
/// let during = kid(&keys.sign(SigningAlgorithm::Es256, &claims, now + 600 + PUBLISH_AHEAD - 1).await?);
/// let after = kid(&keys.sign(SigningAlgorithm::Es256, &claims, now + 600 + PUBLISH_AHEAD).await?);
/// assert_eq!(during, old);
/// assert_ne!(after, old);
/// # Ok(())
/// # }
/// ```
pub const PUBLISH_AHEAD: i64 = 60;

/// RSA modulus size. RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
const RSA_BITS: usize = 2048;

/// jsonwebtoken's name for `alg`.
fn jwt_algorithm(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::Rs256 => Algorithm::RS256,
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

/// A private key in PKCS#8 DER (RSA: PKCS#1) as jsonwebtoken signs with it.
fn encoding_key(alg: SigningAlgorithm, der: &[u8]) -> EncodingKey {
    match alg {
        SigningAlgorithm::Rs256 => EncodingKey::from_rsa_der(der),
        SigningAlgorithm::Es256 => EncodingKey::from_ec_der(der),
        SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(der),
    }
}

/// Why the signing keys could not be read, made or used.
///
/// ```
/// use portcullis::oidc::keys::{KeyEncryptionKey, KeyError, KeyRing};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let kek = KeyEncryptionKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// KeyRing::new(store.clone(), Some(kek), 36000).ensure(1_700_000_000).await?;
/// // The same keys, with `oidc.key_encryption_key` left out of the settings.
/// let error = KeyRing::new(store, None, 36000).ensure(1_700_000_000).await.err();
/// assert!(matches!(error, Some(KeyError::Sealed { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key is sealed and the settings give no key-encryption key.
    #[error("signing key {kid} is encrypted, and no key-encryption key is set (oidc.key_encryption_key)")]
    Sealed {
        /// The key's id.
        kid: String,
    },
    /// A stored key is sealed with another key-encryption key than the settings give.
    #[error("signing key {kid} cannot be decrypted with the configured key-encryption key")]
    WrongKey {
        /// The key's id.
        kid: String,
    },
    /// A stored key cannot be read.
    #[error("signing key {kid} is unusable: {why}")]
    Corrupt {
        /// The key's id.
        kid: String,
        /// What is wrong with it.
        why: String,
    },
    /// No key signs with this algorithm.
    #[error("no active {0} signing key")]
    NoActiveKey(SigningAlgorithm),
    /// A new key could not be made.
    #[error("cannot make a {alg} key: {why}")]
    Generate {
        /// The key's algorithm.
        alg: SigningAlgorithm,
        /// What went wrong.
        why: String,
    },
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The 256-bit AES key that seals private signing keys at rest (AES-256-GCM, the key id
/// as associated data, so a sealed key cannot be moved to another row unnoticed).
///
/// ```
/// use portcullis::oidc::keys::KeyEncryptionKey;
///
/// // As `openssl rand -base64 32` prints one.
/// let kek = KeyEncryptionKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// assert_eq!(format!("{kek:?}"), "KeyEncryptionKey([redacted])");
/// // The error says what is wrong, never the value.
/// assert_eq!(KeyEncryptionKey::parse("c2hvcnQ=").err().as_deref(), Some("it is 5 bytes long; it must be 32"));
/// # Ok::<(), String>(())
/// ```
pub struct KeyEncryptionKey([u8; 32]);

impl KeyEncryptionKey {
    /// Reads 32 bytes written in base64 (standard or URL-safe, padded or not), as
    /// `openssl rand -base64 32` prints them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = [&STANDARD, &URL_SAFE]
            .into_iter()
            .find_map(|engine| engine.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
            .ok_or("it is not base64")?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("it is {} bytes long; it must be 32", b.len()))?;
        Ok(Self(key))
    }

    fn seal(&self, kid: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: kid.as_bytes() })
            .map_err(|e| e.to_string())?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open(&self, kid: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(&self.0).ok()?;
        let (nonce, body) = sealed.split_at_checked(12)?;
        cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: kid.as_bytes() }).ok()
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

/// Makes a new key for `alg`: its private DER (sealed when `kek` is given) and its public
/// JWK, whose `kid` is its RFC 7638 thumbprint. RSA takes a good fraction of a second:
/// call this off the async threads.
///
/// ```
/// use portcullis::oidc::keys::{generate, KeyEncryptionKey};
/// use portcullis::proto::SigningAlgorithm;
///
/// let kek = KeyEncryptionKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// let key = generate(SigningAlgorithm::Es256, Some(&kek), 1_700_000_000)?;
/// assert!(key.encrypted && key.algorithm == "ES256");
/// // The public half names the key by its RFC 7638 thumbprint.
/// let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk)?;
/// assert_eq!(jwk["kid"].as_str(), Some(key.kid.as_str()));
/// assert!(jwk.get("d").is_none(), "no private part in the JWK");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate(alg: SigningAlgorithm, kek: Option<&KeyEncryptionKey>, now: i64) -> Result<NewSigningKey, KeyError> {
    let fail = |why: String| KeyError::Generate { alg, why };
    let der = private_der(alg).map_err(fail)?;
    let mut jwk =
        Jwk::from_encoding_key(&encoding_key(alg, &der), jwt_algorithm(alg)).map_err(|e| fail(e.to_string()))?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|e| fail(e.to_string()))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| fail(e.to_string()))?;
    let (private_key, encrypted) = match kek {
        Some(kek) => (kek.seal(&kid, &der).map_err(fail)?, true),
        None => (der, false),
    };
    Ok(NewSigningKey { kid, algorithm: alg.as_str().to_owned(), private_key, encrypted, public_jwk, created_at: now })
}

/// PKCS#1 DER for RSA, PKCS#8 (v1, private key only) for the curves: what jsonwebtoken
/// reads.
fn private_der(alg: SigningAlgorithm) -> Result<Vec<u8>, String> {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePrivateKey;
    // The operating system's CSPRNG. RSA and Ed25519 key generation take an infallible
    // generator, so for them a failure to read it (which Linux does not have once the
    // pool is seeded) would panic inside the crate; P-256 reports it.
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    match alg {
        SigningAlgorithm::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::PrivateKey::new(&mut rng, RSA_BITS).map_err(|e| e.to_string())?;
            Ok(key.to_pkcs1_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
        }
        SigningAlgorithm::Es256 => {
            let key =
                p256::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng).map_err(|e| e.to_string())?;
            Ok(key.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
        }
        SigningAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            let bytes = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
            Ok(bytes.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
        }
    }
}

/// One key, ready to sign and to publish.
struct Loaded {
    kid: String,
    alg: SigningAlgorithm,
    signing: EncodingKey,
    public: Jwk,
    created_at: i64,
    retired_at: Option<i64>,
}

impl Keys {
    /// The key that signs for `alg` at `now`: of the keys not yet retired `ahead`
    /// seconds ago, the newest that already existed then, so that a new key is
    /// published that long before it signs and its predecessor signs until then; when
    /// none existed then (a first start, or a rotation soon after it), the one
    /// published longest.
    fn signing(&self, alg: SigningAlgorithm, now: i64, ahead: i64) -> Option<&Loaded> {
        let then = now - ahead;
        // Newest first, as stored.
        let candidates = || self.keys.iter().filter(move |k| k.alg == alg && k.retired_at.is_none_or(|at| at > then));
        candidates().find(|k| k.created_at <= then).or_else(|| candidates().next_back())
    }
}

/// The keys as last read, newest first.
struct Keys {
    at: Instant,
    keys: Vec<Loaded>,
}

impl Keys {
    /// Whom and for which client `id_token` was issued, if one of these keys signed it
    /// for `issuer` (see [`KeyRing::identify`]). The `kid` and `alg` of the header pick
    /// the key, and the key's own algorithm must be the header's, so that a token cannot
    /// choose how its signature is checked (an HMAC keyed with a public key, say).
    fn identify(&self, id_token: &str, issuer: &str) -> Option<IdTokenIdentity> {
        let header = jsonwebtoken::decode_header(id_token).ok()?;
        // The same keys sign JWT access tokens, which carry the claims checked below
        // too (`aud` is the client when `jwt_access_token_audience` names it): only the
        // header tells them apart, and only an ID token is a hint.
        if !is_id_token_type(header.typ.as_deref()) {
            return None;
        }
        let key = self
            .keys
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()) && jwt_algorithm(k.alg) == header.alg)?;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&key.public).ok()?;
        let mut validation = jsonwebtoken::Validation::new(jwt_algorithm(key.alg));
        validation.validate_exp = false;
        // Checked below: Portcullis's ID tokens have exactly one audience.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["sub", "aud", "iss"]);
        validation.set_issuer(&[issuer]);
        #[derive(serde::Deserialize)]
        struct Claims {
            sub: String,
            aud: String,
        }
        jsonwebtoken::decode::<Claims>(id_token, &decoding, &validation)
            .ok()
            .map(|data| IdTokenIdentity { subject: data.claims.sub, client_id: data.claims.aud })
    }
}

/// Whether a JWS header's `typ` is the one this server's ID tokens carry, `JWT`
/// ([`KeyRing::sign`]), rather than `at+jwt` (its JWT access tokens, RFC 9068 §2.1:
/// "JWT access tokens MUST include this media type in the "typ" header parameter") or
/// anything else. RFC 7515 §4.1.9: media types are case insensitive, and "A recipient
/// using the media type value MUST treat it as if "application/" were prepended to any
/// "typ" value not containing a '/'". A token without `typ` was not signed here.
fn is_id_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.to_ascii_lowercase();
    let media_type = if typ.contains('/') { typ } else { format!("application/{typ}") };
    media_type == "application/jwt"
}

/// What a verified ID token says about whom it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenIdentity {
    /// `sub`: the user's id.
    pub subject: String,
    /// `aud`: the client it was issued to.
    pub client_id: String,
}

/// A summary of one stored key, for `portcullis keys list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// The key id (`kid`): its RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS `alg` it signs with.
    pub algorithm: String,
    /// Whether it is sealed with the key-encryption key at rest.
    pub encrypted: bool,
    /// When it was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When a rotation retired it; `None` while it signs.
    pub retired_at: Option<i64>,
}

/// The signing keys of this server, read from the store and kept for [`RELOAD_AFTER`].
/// A provider has its own ([`AppState::keys`](crate::http::AppState::keys)); a tool
/// beside it can make another on the same store to sign, list or rotate.
///
/// ```
/// use portcullis::oidc::keys::{IdTokenIdentity, KeyRing};
/// use portcullis::proto::SigningAlgorithm;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// // Retired keys published for 10 hours, new ones signing at once.
/// let keys = KeyRing::new(store, None, 36000).publish_ahead(0);
/// let now = 1_700_000_000;
/// keys.ensure(now).await?;
/// assert_eq!(keys.list().await?.len(), 3, "one key per algorithm");
///
/// // An ID token, and what an `id_token_hint` holding it says.
/// let issuer = "https://login.example/o";
/// let claims = json!({ "iss": issuer, "sub": "42", "aud": "shop-front", "iat": now, "exp": now + 3600 });
/// let id_token = keys.sign(SigningAlgorithm::Rs256, &claims, now).await?;
/// assert_eq!(keys.subject_of(&id_token, "shop-front", issuer).await?.as_deref(), Some("42"));
/// assert_eq!(keys.subject_of(&id_token, "another-client", issuer).await?, None);
/// let identity = IdTokenIdentity { subject: "42".into(), client_id: "shop-front".into() };
/// assert_eq!(keys.identify(&id_token, issuer).await?, Some(identity));
///
/// // RFC 9068 §2.1: a JWT access token says so in its header, and is no ID token,
/// // whatever its claims.
/// let access = keys.sign_typed(SigningAlgorithm::EdDsa, "at+jwt", &claims, now).await?;
/// assert_eq!(jsonwebtoken::decode_header(&access)?.typ.as_deref(), Some("at+jwt"));
/// assert_eq!(keys.identify(&access, issuer).await?, None);
///
/// // A rotation: new keys sign, and the old ones stay published for the tokens they
/// // signed.
/// let rotated = keys.rotate(now + 60).await?;
/// assert_eq!(rotated.len(), 3);
/// assert_eq!(keys.jwks(now + 60).await?.keys.len(), 6);
/// assert!(keys.subject_of(&id_token, "shop-front", issuer).await?.is_some());
/// let listed = keys.list().await?;
/// assert_eq!(listed.iter().filter(|key| key.retired_at.is_some()).count(), 3);
/// # Ok(())
/// # }
/// ```
pub struct KeyRing {
    store: Arc<dyn Store>,
    kek: Option<KeyEncryptionKey>,
    /// How long a retired key stays published: the longest a token it signed lives.
    publish_retired_for: i64,
    /// How long a new key is published before it signs.
    publish_ahead: i64,
    cache: RwLock<Option<Arc<Keys>>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("sealed", &self.kek.is_some()).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The keys in `store`, opened with `kek` when they are sealed, with retired keys
    /// published for `publish_retired_for` seconds (the longest a token lives:
    /// `oauth2.access_token_expire_seconds`). Reads nothing yet.
    pub fn new(store: Arc<dyn Store>, kek: Option<KeyEncryptionKey>, publish_retired_for: i64) -> Self {
        Self { store, kek, publish_retired_for, publish_ahead: PUBLISH_AHEAD, cache: RwLock::new(None) }
    }

    /// Publishes new keys `seconds` before they sign, instead of [`PUBLISH_AHEAD`].
    pub fn publish_ahead(mut self, seconds: u32) -> Self {
        self.publish_ahead = i64::from(seconds);
        self
    }

    /// Makes an active key for every algorithm that has none (the first start), and
    /// checks that every stored key can be used with the configured key-encryption key.
    pub async fn ensure(&self, now: i64) -> Result<(), KeyError> {
        let stored = self.store.signing_keys().await?;
        let missing: Vec<_> = SigningAlgorithm::ALL
            .into_iter()
            .filter(|alg| !stored.iter().any(|k| k.algorithm == alg.as_str() && k.retired_at.is_none()))
            .collect();
        if !missing.is_empty() {
            let keys = self.generate_all(&missing, now).await?;
            self.store.add_signing_keys(&keys, false, now).await?;
        }
        self.reload().await.map(|_| ())
    }

    /// Makes a new active key for every algorithm and retires the old ones, in one
    /// transaction. Returns the new keys' ids.
    pub async fn rotate(&self, now: i64) -> Result<Vec<String>, KeyError> {
        let keys = self.generate_all(&SigningAlgorithm::ALL, now).await?;
        self.store.add_signing_keys(&keys, true, now).await?;
        self.reload().await?;
        Ok(keys.into_iter().map(|k| k.kid).collect())
    }

    /// Every stored key, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                algorithm: k.algorithm,
                encrypted: k.encrypted,
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect())
    }

    /// Signs `claims` as a JWS with the key for `alg` (the one active a publication lead
    /// ago, [`PUBLISH_AHEAD`] by default, or the newest on a first start), naming it in
    /// `kid`. Makes the keys first if there are none yet (a library host that never
    /// called [`KeyRing::ensure`]).
    pub async fn sign(&self, alg: SigningAlgorithm, claims: &impl Serialize, now: i64) -> Result<String, KeyError> {
        self.sign_typed(alg, "JWT", claims, now).await
    }

    /// [`KeyRing::sign`] with the JOSE header's `typ` set to `typ` (RFC 7515 §4.1.9),
    /// which tells one kind of token from another (`at+jwt` for access tokens).
    pub async fn sign_typed(
        &self,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &impl Serialize,
        now: i64,
    ) -> Result<String, KeyError> {
        let mut keys = self.current().await?;
        if !keys.keys.iter().any(|k| k.alg == alg && k.retired_at.is_none()) {
            self.ensure(now).await?;
            keys = self.current().await?;
        }
        let key = keys.signing(alg, now, self.publish_ahead).ok_or(KeyError::NoActiveKey(alg))?;
        let mut header = Header::new(jwt_algorithm(alg));
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.signing).map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The public keys to publish at `now`: every active key, and the retired ones whose
    /// tokens may still be valid. Makes the keys first if there are none yet.
    pub async fn jwks(&self, now: i64) -> Result<JwkSet, KeyError> {
        let mut keys = self.current().await?;
        if !keys.keys.iter().any(|k| k.retired_at.is_none()) {
            self.ensure(now).await?;
            keys = self.current().await?;
        }
        // A retired key signs for publish_ahead after its retirement, and its tokens
        // live for publish_retired_for after that.
        let until = |retired: i64| retired + self.publish_ahead + self.publish_retired_for;
        let published = keys.keys.iter().filter(|k| k.retired_at.is_none_or(|at| now < until(at)));
        Ok(JwkSet { keys: published.map(|k| k.public.clone()).collect() })
    }

    /// The `sub` of an ID token this server signed for `client_id` (an
    /// `id_token_hint`), or `None` if it is not one: unparsable, not typed as an ID
    /// token (a JWT access token is `at+jwt`), not signed by one of the keys, retired
    /// ones included, or for another issuer or client. An expired token still names its
    /// user (Core §3.1.2.1: "the OP SHOULD treat it as a hint even if expired"), so
    /// `exp` is not checked.
    pub async fn subject_of(&self, id_token: &str, client_id: &str, issuer: &str) -> Result<Option<String>, KeyError> {
        Ok(self.identify(id_token, issuer).await?.filter(|id| id.client_id == client_id).map(|id| id.subject))
    }

    /// Whom and for which client an ID token this server signed was issued, checked as
    /// [`KeyRing::subject_of`] checks it but for any client (RP-initiated logout learns
    /// the client from the hint).
    pub async fn identify(&self, id_token: &str, issuer: &str) -> Result<Option<IdTokenIdentity>, KeyError> {
        if jsonwebtoken::decode_header(id_token).is_err() {
            // Not even a JWS: no need to read the keys.
            return Ok(None);
        }
        Ok(self.current().await?.identify(id_token, issuer))
    }

    async fn generate_all(&self, algs: &[SigningAlgorithm], now: i64) -> Result<Vec<NewSigningKey>, KeyError> {
        let mut keys = Vec::with_capacity(algs.len());
        for &alg in algs {
            let kek = self.kek.as_ref().map(|k| KeyEncryptionKey(k.0));
            let key = tokio::task::spawn_blocking(move || generate(alg, kek.as_ref(), now))
                .await
                .map_err(|e| KeyError::Generate { alg, why: e.to_string() })??;
            keys.push(key);
        }
        Ok(keys)
    }

    async fn current(&self) -> Result<Arc<Keys>, KeyError> {
        if let Ok(cache) = self.cache.read() {
            if let Some(keys) = cache.as_ref().filter(|k| k.at.elapsed() < RELOAD_AFTER) {
                return Ok(keys.clone());
            }
        }
        self.reload().await
    }

    async fn reload(&self) -> Result<Arc<Keys>, KeyError> {
        let stored = self.store.signing_keys().await?;
        let keys = stored.into_iter().filter_map(|record| self.load(record).transpose()).collect::<Result<_, _>>()?;
        let keys = Arc::new(Keys { at: Instant::now(), keys });
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(keys.clone());
        }
        Ok(keys)
    }

    fn load(&self, record: SigningKeyRecord) -> Result<Option<Loaded>, KeyError> {
        load(self.kek.as_ref(), record)
    }
}

/// Parses one stored key, opening it with `kek` when it is sealed; `None` for an
/// algorithm this build does not know (a newer version's), which is skipped rather
/// than fatal.
fn load(kek: Option<&KeyEncryptionKey>, record: SigningKeyRecord) -> Result<Option<Loaded>, KeyError> {
    let Some(alg) = SigningAlgorithm::parse(&record.algorithm) else {
        tracing::warn!(kid = %record.kid, algorithm = %record.algorithm, "skipping a signing key of an unknown algorithm");
        return Ok(None);
    };
    let der = if record.encrypted {
        let kek = kek.ok_or_else(|| KeyError::Sealed { kid: record.kid.clone() })?;
        kek.open(&record.kid, &record.private_key).ok_or_else(|| KeyError::WrongKey { kid: record.kid.clone() })?
    } else {
        record.private_key
    };
    let public: Jwk = serde_json::from_str(&record.public_jwk)
        .map_err(|e| KeyError::Corrupt { kid: record.kid.clone(), why: e.to_string() })?;
    Ok(Some(Loaded {
        signing: encoding_key(alg, &der),
        kid: record.kid,
        alg,
        public,
        created_at: record.created_at,
        retired_at: record.retired_at,
    }))
}

/// One key of each algorithm, made in memory and never stored, with the checks the
/// server makes of an `id_token_hint`: what the fuzz targets (feature `fuzzing`) verify
/// tokens with, without a database.
#[cfg(feature = "fuzzing")]
pub(crate) struct MemoryKeys(Keys);

#[cfg(feature = "fuzzing")]
impl MemoryKeys {
    /// Makes the keys (RSA takes a moment).
    pub(crate) fn generate(now: i64) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (id, alg) in (1..).zip(SigningAlgorithm::ALL) {
            let new = generate(alg, None, now)?;
            let record = SigningKeyRecord {
                id,
                kid: new.kid,
                algorithm: new.algorithm,
                private_key: new.private_key,
                encrypted: new.encrypted,
                public_jwk: new.public_jwk,
                created_at: now,
                retired_at: None,
            };
            keys.extend(load(None, record)?);
        }
        Ok(Self(Keys { at: Instant::now(), keys }))
    }

    /// [`KeyRing::identify`] over these keys.
    pub(crate) fn identify(&self, id_token: &str, issuer: &str) -> Option<IdTokenIdentity> {
        self.0.identify(id_token, issuer)
    }

    /// A JWS of `claims` signed with the key for `alg`, with the header's `typ` and
    /// `kid` as given (`kid` defaults to the key's own).
    pub(crate) fn sign(
        &self,
        alg: SigningAlgorithm,
        typ: Option<&str>,
        kid: Option<&str>,
        claims: &impl Serialize,
    ) -> Result<String, KeyError> {
        let key = self.0.keys.iter().find(|k| k.alg == alg).ok_or(KeyError::NoActiveKey(alg))?;
        let mut header = Header::new(jwt_algorithm(alg));
        header.typ = typ.map(str::to_owned);
        header.kid = Some(kid.unwrap_or(&key.kid).to_owned());
        jsonwebtoken::encode(&header, claims, &key.signing).map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The public keys, as the JWKS publishes them.
    pub(crate) fn jwks(&self) -> JwkSet {
        JwkSet { keys: self.0.keys.iter().map(|k| k.public.clone()).collect() }
    }

    /// The `kid` of the key for `alg`.
    pub(crate) fn kid(&self, alg: SigningAlgorithm) -> Option<&str> {
        self.0.keys.iter().find(|k| k.alg == alg).map(|k| k.kid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encryption_key_takes_32_bytes_of_base64() {
        let raw = [7u8; 32];
        for text in [STANDARD.encode(raw), URL_SAFE_NO_PAD.encode(raw), format!(" {}\n", STANDARD.encode(raw))] {
            assert_eq!(KeyEncryptionKey::parse(&text).map(|k| k.0), Ok(raw), "{text:?}");
        }
        assert!(KeyEncryptionKey::parse(&STANDARD.encode([7u8; 16])).unwrap_err().contains("16 bytes"));
        assert!(KeyEncryptionKey::parse("not base64!").is_err());
        assert_eq!(format!("{:?}", KeyEncryptionKey(raw)), "KeyEncryptionKey([redacted])");
    }

    #[test]
    fn sealed_keys_open_only_with_their_key_and_kid() {
        let kek = KeyEncryptionKey([1; 32]);
        let sealed = kek.seal("kid-1", b"private").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(kek.open("kid-1", &sealed).as_deref(), Some(&b"private"[..]));
        assert_eq!(kek.open("kid-2", &sealed), None, "moved to another key id");
        assert_eq!(KeyEncryptionKey([2; 32]).open("kid-1", &sealed), None, "another key");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(kek.open("kid-1", &tampered), None);
    }

    /// RFC 9068 §5: "The JWT access token data layout described here is very similar
    /// to that of the id_token [...] The explicit typing required in this profile [...]
    /// helps the resource server to distinguish between JWT access tokens and ID
    /// Tokens": so does the server, reading a hint.
    #[test]
    fn only_tokens_typed_as_id_tokens_identify_anyone() {
        let new = generate(SigningAlgorithm::Es256, None, 100).unwrap();
        let record = SigningKeyRecord {
            id: 1,
            kid: new.kid,
            algorithm: new.algorithm,
            private_key: new.private_key,
            encrypted: false,
            public_jwk: new.public_jwk,
            created_at: 100,
            retired_at: None,
        };
        let keys = Keys { at: Instant::now(), keys: load(None, record).unwrap().into_iter().collect() };
        let key = &keys.keys[0];
        let issuer = "https://op.example/o";
        let claims = serde_json::json!({"iss": issuer, "sub": "7", "aud": "rp", "exp": 4_000_000_000u64});
        let signed = |typ: Option<&str>| {
            let mut header = Header::new(jwt_algorithm(key.alg));
            header.typ = typ.map(str::to_owned);
            header.kid = Some(key.kid.clone());
            jsonwebtoken::encode(&header, &claims, &key.signing).unwrap()
        };
        let identity = Some(IdTokenIdentity { subject: "7".into(), client_id: "rp".into() });
        for typ in ["JWT", "jwt", "application/jwt", "Application/JWT"] {
            assert_eq!(keys.identify(&signed(Some(typ)), issuer), identity, "{typ}");
        }
        for typ in [Some("at+jwt"), Some("application/at+jwt"), Some("AT+JWT"), Some("logout+jwt"), Some(""), None] {
            assert_eq!(keys.identify(&signed(typ), issuer), None, "{typ:?}");
        }
    }

    #[test]
    fn generated_keys_sign_tokens_their_public_jwk_verifies() {
        for alg in SigningAlgorithm::ALL {
            let key = generate(alg, None, 100).unwrap();
            let jwk: Jwk = serde_json::from_str(&key.public_jwk).unwrap();
            assert_eq!(jwk.common.key_id.as_deref(), Some(key.kid.as_str()));
            assert!(!key.public_jwk.contains("\"d\""), "{alg}: the JWK must not carry the private part");
            let mut header = Header::new(jwt_algorithm(alg));
            header.kid = Some(key.kid.clone());
            let token = jsonwebtoken::encode(
                &header,
                &serde_json::json!({"sub": "1", "aud": "c", "exp": 4_000_000_000u64}),
                &encoding_key(alg, &key.private_key),
            )
            .unwrap();
            let mut validation = jsonwebtoken::Validation::new(jwt_algorithm(alg));
            validation.set_audience(&["c"]);
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).is_ok(), "{alg}");
        }
    }
}
