//! The verifier end to end: tokens signed as the provider signs them, key sets given
//! or fetched over loopback HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{Request, StatusCode};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{unix_now, JwksError, JwtVerifier};
use crate::{Authenticated, ProtectedResource, TokenVerifier, Verifier};

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
    // One set of claims: `claims()` reads the clock, and a second call may fall in the
    // next second.
    let signed = claims();
    let info = verifier.verify(&key.sign(&signed)).await.unwrap().unwrap();
    assert_eq!(info.client_id, "c");
    assert_eq!((info.user_id.as_deref(), info.username.as_deref()), (Some("7"), Some("alice")));
    assert_eq!(info.scope.to_string(), "read write");
    assert_eq!(info.expires_at, signed["exp"].as_i64().unwrap());
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
    let point = [vec![4u8], URL_SAFE_NO_PAD.decode(&ec.x).unwrap(), URL_SAFE_NO_PAD.decode(&ec.y).unwrap()].concat();
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

#[tokio::test]
async fn rfc8707_a_guarded_resource_takes_only_jwts_bound_to_it() {
    const PHOTOS: &str = "https://api.example/photos";
    const BILLING: &str = "https://api.example/billing";
    let key = SigningKey::es256("k1");
    let guarded = |audience: &str| {
        let jwt = JwtVerifier::from_jwks(&jwks(&[&key]), ISSUER, audience).unwrap();
        let photos = ProtectedResource::new(PHOTOS).unwrap();
        TokenVerifier::new(Arc::new(jwt), "photos").protecting(photos)
    };
    let accepts = |verifier: TokenVerifier, aud: Value| {
        let token = key.sign(&claims_with(json!({ "aud": aud })));
        async move { verifier.verify(&token).await.unwrap().is_some() }
    };
    // The JWT verifier for the resource's own URI, as it should be set up: RFC 9068 §4,
    // "The resource server MUST validate that the "aud" claim contains a resource
    // indicator value corresponding to an identifier the resource server expects for
    // itself."
    assert!(accepts(guarded(PHOTOS), json!(PHOTOS)).await);
    assert!(accepts(guarded(PHOTOS), json!([BILLING, PHOTOS])).await);
    assert!(!accepts(guarded(PHOTOS), json!(BILLING)).await);
    // A JWT verifier set up for another audience (the provider's default `aud`, say):
    // the token's `aud` reaches the resource's own check, which wants the resource too.
    assert!(accepts(guarded(AUDIENCE), json!([AUDIENCE, PHOTOS])).await);
    assert!(!accepts(guarded(AUDIENCE), json!(AUDIENCE)).await, "bound to another resource only");
    assert!(!accepts(guarded(AUDIENCE), json!([AUDIENCE, BILLING])).await);
}

#[test]
fn debug_names_the_configuration() {
    let verifier = JwtVerifier::new("http://127.0.0.1:1/o/.well-known/jwks.json", ISSUER, AUDIENCE);
    let text = format!("{verifier:?}");
    assert!(text.contains("jwks.json") && text.contains(ISSUER) && text.contains("keys: 0"), "{text}");
}
