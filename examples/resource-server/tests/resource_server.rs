//! The photo-sharing API against a real Portcullis, each a server of its own on
//! loopback, talking HTTP as they would on two machines: the provider with its own
//! SQLite file, the API with nothing but the settings `Settings::from_lookup` reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::clock::{Clock, ManualClock};
use portcullis::config::Config;
use portcullis::http::server::serve;
use portcullis::proto::SigningAlgorithm;
use portcullis::proto::{AccessTokenFormat, ClientType, GrantType};
use portcullis::provider::Provider;
use portcullis::store::{ApplicationSettings, NewUser};
use portcullis_axum::{JwtVerifier, TokenVerifier};
use portcullis_example_resource_server::{api, Settings, REALM};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;

const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://photo-app.example/callback";

/// RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the
/// client was unaware that authentication is necessary or attempted using an
/// unsupported authentication method), the resource server SHOULD NOT include an error
/// code or other error information."
const NO_TOKEN: &str = r#"Bearer realm="photos""#;
/// RFC 6750 §3.1: "invalid_token: The access token provided is expired, revoked,
/// malformed, or invalid for other reasons. The resource SHOULD respond with the HTTP
/// 401 (Unauthorized) status code."
const INVALID_TOKEN: &str = r#"Bearer realm="photos", error="invalid_token""#;
/// RFC 6750 §3.1: "insufficient_scope: The request requires higher privileges than
/// provided by the access token. The resource server SHOULD respond with the HTTP 403
/// (Forbidden) status code and MAY include the "scope" attribute with the scope
/// necessary to access the protected resource."
const NEEDS_WRITE: &str = r#"Bearer realm="photos", error="insufficient_scope", scope="write""#;

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A running Portcullis: the provider as a library, served on its own port.
struct Portcullis {
    base: String,
    issuer: String,
    provider: Provider,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// A registered application, with its secret as the registrant saw it once.
struct Client {
    id: String,
    secret: String,
}

impl Portcullis {
    async fn start() -> Self {
        Self::start_with(unix_now(), |_| {}).await
    }

    /// A provider whose clock starts at `clock_start`, with `configure` applied to the
    /// defaults. The listener is bound first, so that the issuer can name its port.
    async fn start_with(clock_start: i64, configure: impl FnOnce(&mut Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::defaults();
        config.oidc.issuer = format!("{base}/o");
        configure(&mut config);
        let issuer = config.oidc.issuer.clone();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
        let store = portcullis::store::connect(&url).await.unwrap();
        let clock = Arc::new(ManualClock::new(clock_start));
        let provider = Provider::builder(config, store).clock(clock.clone()).build().await.unwrap();
        let router = provider.router();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            serve(listener, router, shutdown).await.unwrap();
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base, issuer, provider, clock, http, stop: Some(stop), server: Some(server), _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Shuts the server down and waits until it has stopped listening. (Aborting the
    /// task that runs `serve` would not do: the server runs in a task of its own.)
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server).await.expect("the provider stops").unwrap();
        }
        let refused = self.http.get(self.url("/healthz")).send().await;
        assert!(refused.is_err(), "nothing listens at {} any more", self.base);
    }

    async fn user(&self, username: &str) -> i64 {
        let user = self
            .provider
            .state()
            .store
            .create_user(&NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                first_name: "First".into(),
                last_name: "Last".into(),
                password_hash: Some(portcullis::password::hash(PASSWORD).unwrap()),
                is_staff: false,
                is_superuser: false,
                date_joined: self.clock.now(),
            })
            .await
            .unwrap();
        user.id
    }

    /// A confidential application, as `portcullis app create` registers one.
    async fn register(&self, grants: &[GrantType], format: AccessTokenFormat) -> Client {
        let secret = portcullis::crypto::Secret::generate();
        let id = portcullis::crypto::random_alphanumeric(32);
        let code_flow = grants.contains(&GrantType::AuthorizationCode);
        let settings = ApplicationSettings {
            name: "Photo app".into(),
            client_type: ClientType::Confidential,
            grant_types: grants.to_vec(),
            redirect_uris: if code_flow { vec![REDIRECT.into()] } else { vec![] },
            skip_authorization: code_flow,
            algorithm: SigningAlgorithm::Es256,
            access_token_format: format,
            ..ApplicationSettings::default()
        };
        let store = &self.provider.state().store;
        store.create_application(&id, Some(&secret.hash()), None, &settings, self.clock.now()).await.unwrap();
        Client { id, secret: secret.expose().to_owned() }
    }

    /// The photo API's own application: it introspects with these credentials.
    async fn api_client(&self) -> Client {
        self.register(&[GrantType::ClientCredentials], AccessTokenFormat::Opaque).await
    }

    async fn token_answer(&self, client: &Client, form: &[(&str, &str)]) -> Value {
        let answer =
            self.http.post(self.url("/o/token/")).basic_auth(&client.id, Some(&client.secret)).form(form).send().await;
        let answer = answer.unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// An access token for `username` by the password grant.
    async fn token(&self, client: &Client, username: &str, scope: &str) -> String {
        let form = [("grant_type", "password"), ("username", username), ("password", PASSWORD), ("scope", scope)];
        let answer = self.token_answer(client, &form).await;
        answer["access_token"].as_str().unwrap().to_owned()
    }

    /// RFC 7009 revocation, as the client that holds the token.
    async fn revoke(&self, client: &Client, token: &str) {
        let answer = self
            .http
            .post(self.url("/o/revoke_token/"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }

    /// The authorization code flow with scope `openid`, as a browser would run it for a
    /// client that skips consent: the token answer, with its ID token.
    async fn code_flow(&self, client: &Client, username: &str) -> Value {
        let browser =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = browser.get(self.url("/accounts/login/")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_field(&page, "csrf_token");
        let login = browser
            .post(self.url("/accounts/login/"))
            .form(&[("username", username), ("password", PASSWORD), ("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::SEE_OTHER, "logged in");
        // PKCE `plain` (RFC 7636 §4.2): the challenge is the verifier.
        let verifier = portcullis::crypto::random_string(48);
        let query = [
            ("client_id", client.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid read"),
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ];
        let answer = browser.get(self.url("/o/authorize/")).query(&query).send().await.unwrap();
        assert!(answer.status().is_redirection(), "{}", answer.status());
        let location = answer.headers()["location"].to_str().unwrap();
        let location = reqwest::Url::parse(location).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ];
        self.token_answer(client, &form).await
    }
}

impl Drop for Portcullis {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Serves the photo API with `verifier` on a port of its own; its base URL.
async fn serve_api(verifier: TokenVerifier) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api(verifier)).await });
    format!("http://{address}")
}

/// The photo API configured as its process would be, from these variables.
async fn api_with(vars: &[(&str, &str)]) -> String {
    let settings = Settings::from_lookup(|name| {
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()).ok_or(std::env::VarError::NotPresent)
    })
    .unwrap();
    serve_api(settings.verifier()).await
}

/// `PHOTOS_VERIFY=introspection` at `portcullis`, caching answers for `cache_seconds`.
async fn introspecting_api(portcullis: &Portcullis, api_client: &Client, cache_seconds: &str) -> String {
    api_with(&[
        ("PHOTOS_VERIFY", "introspection"),
        ("PORTCULLIS_URL", &portcullis.base),
        ("PHOTOS_CLIENT_ID", &api_client.id),
        ("PHOTOS_CLIENT_SECRET", &api_client.secret),
        ("PHOTOS_CACHE_SECONDS", cache_seconds),
    ])
    .await
}

/// `PHOTOS_VERIFY=jwt` for `issuer`, with the default audience (the issuer).
async fn jwt_api(issuer: &str) -> String {
    api_with(&[("PHOTOS_VERIFY", "jwt"), ("PORTCULLIS_ISSUER", issuer)]).await
}

/// An answer from the photo API, read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts `status` and the `WWW-Authenticate` challenge.
    #[track_caller]
    fn assert(&self, status: StatusCode, challenge: Option<&str>, why: &str) {
        assert_eq!((self.status, self.challenge.as_deref()), (status, challenge), "{why}: {}", self.body);
    }
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    Answer { status, challenge, body: response.text().await.unwrap() }
}

async fn get(api: &str, path: &str, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{api}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

async fn photos(api: &str, token: &str) -> Answer {
    get(api, "/photos", Some(token)).await
}

async fn post_photo(api: &str, token: &str, title: &str) -> Answer {
    let request = reqwest::Client::new().post(format!("{api}/photos")).bearer_auth(token);
    read(request.json(&serde_json::json!({ "title": title })).send().await.unwrap()).await
}

fn titles(answer: &Answer) -> Vec<String> {
    let photos = answer.json()["photos"].as_array().unwrap().clone();
    photos.iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect()
}

/// A JWT's segments: header and claims decoded, and the signature as sent.
fn split_jwt(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form: {token}");
    let decode = |part: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]), parts[2].to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_mode_answers_per_rfc6750() {
    let portcullis = Portcullis::start().await;
    portcullis.user("alice").await;
    let photo_app = portcullis.register(&[GrantType::Password], AccessTokenFormat::Opaque).await;
    let api = introspecting_api(&portcullis, &portcullis.api_client().await, "0").await;
    let reader = portcullis.token(&photo_app, "alice", "read").await;
    let writer = portcullis.token(&photo_app, "alice", "read write").await;

    let answer = photos(&api, &reader).await;
    answer.assert(StatusCode::OK, None, "scope read lets GET through");
    // RFC 7662 §2.2: an active answer carries the token's scope, client and user.
    let holder = &answer.json()["token"];
    assert_eq!((holder["username"].as_str(), holder["scope"].as_str()), (Some("alice"), Some("read")));
    assert_eq!(holder["client_id"].as_str(), Some(photo_app.id.as_str()));
    let before = titles(&answer);
    assert!(!before.is_empty());

    // RFC 6750 §3: "The "scope" attribute is a space-delimited list of case-sensitive
    // scope values indicating the required scope of the access token for accessing the
    // requested resource."
    post_photo(&api, &reader, "Not mine to add").await.assert(
        StatusCode::FORBIDDEN,
        Some(NEEDS_WRITE),
        "read-only POST",
    );
    assert_eq!(titles(&photos(&api, &reader).await), before, "the refused POST added nothing");
    let added = post_photo(&api, &writer, "Alice's cat").await;
    added.assert(StatusCode::CREATED, None, "scope write lets POST through");
    assert_eq!(added.json()["owner"], "alice");
    assert!(titles(&photos(&api, &reader).await).contains(&"Alice's cat".to_owned()));
    post_photo(&api, &writer, "   ").await.assert(StatusCode::UNPROCESSABLE_ENTITY, None, "an empty title");

    get(&api, "/photos", None).await.assert(StatusCode::UNAUTHORIZED, Some(NO_TOKEN), "no token: no error code");
    photos(&api, "not-a-token-portcullis-issued").await.assert(
        StatusCode::UNAUTHORIZED,
        Some(INVALID_TOKEN),
        "garbage",
    );

    // RFC 7662 §2.2: "active" is true for a token "within its given time window of
    // validity"; once the provider's clock passes its expiry, the API refuses it.
    portcullis.clock.advance(36_001);
    photos(&api, &reader).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "expired at the provider");
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_cache_holds_a_revocation_for_at_most_max_age() {
    let portcullis = Portcullis::start().await;
    portcullis.user("alice").await;
    let photo_app = portcullis.register(&[GrantType::Password], AccessTokenFormat::Opaque).await;
    let api_client = portcullis.api_client().await;
    let max_age = Duration::from_secs(1);
    let cached = introspecting_api(&portcullis, &api_client, "1").await;
    let uncached = introspecting_api(&portcullis, &api_client, "0").await;

    // RFC 7662 §4: caching trades load on the provider against how soon a revocation
    // is honoured, and "the cache expiration time … should be set to be shorter than the
    // token's expiration time". A cached "active" answer stands until its entry ends:
    // asserted only when that is certain (the answer to the check came back less than
    // max_age after the request that made the entry left), so a slow machine makes the
    // check retry, never fail or pass wrongly.
    let mut observed = false;
    for _ in 0..3 {
        let token = portcullis.token(&photo_app, "alice", "read").await;
        let started = Instant::now();
        photos(&cached, &token).await.assert(StatusCode::OK, None, "valid, and now cached");
        let cached_at = Instant::now();
        photos(&uncached, &token).await.assert(StatusCode::OK, None, "valid");
        portcullis.revoke(&photo_app, &token).await;
        let answer = photos(&cached, &token).await;
        let within_max_age = started.elapsed() < max_age;
        // Caching off: the provider is asked each time, and the revocation holds at once.
        photos(&uncached, &token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "revoked, max_age 0");
        if within_max_age {
            answer.assert(StatusCode::OK, None, "revoked, but the cached answer stands until max_age");
            observed = true;
        }
        // The entry was made before `cached_at`: just past max_age after it, it is gone.
        tokio::time::sleep(
            (cached_at + max_age + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
        )
        .await;
        photos(&cached, &token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "revoked, after max_age");
        if observed {
            break;
        }
    }
    assert!(observed, "three tries and never a request within max_age of the cached answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_down_is_503_for_tokens_not_cached() {
    let mut portcullis = Portcullis::start().await;
    portcullis.user("alice").await;
    let photo_app = portcullis.register(&[GrantType::Password], AccessTokenFormat::Opaque).await;
    let api_client = portcullis.api_client().await;
    // PHOTOS_CACHE_SECONDS unset: the default, 10 seconds.
    let api = api_with(&[
        ("PHOTOS_VERIFY", "introspection"),
        ("PORTCULLIS_URL", &portcullis.base),
        ("PHOTOS_CLIENT_ID", &api_client.id),
        ("PHOTOS_CLIENT_SECRET", &api_client.secret),
    ])
    .await;
    let seen = portcullis.token(&photo_app, "alice", "read").await;
    let unseen = portcullis.token(&photo_app, "alice", "read").await;
    photos(&api, &seen).await.assert(StatusCode::OK, None, "valid, and now cached");

    portcullis.stop().await;

    // The API cannot tell whether the token is good: that is no verdict on the token
    // (not 401, which tells a client to throw it away), and no fault of the API (not
    // 500). 503 says "try again"; no challenge, since no credentials would help.
    let answer = photos(&api, &unseen).await;
    answer.assert(StatusCode::SERVICE_UNAVAILABLE, None, "a token not cached, provider down");
    assert_eq!(answer.json()["error"], "temporarily_unavailable");
    photos(&api, "garbage").await.assert(StatusCode::SERVICE_UNAVAILABLE, None, "not even garbage can be told");
    // What needs no provider still works: the cached answer (for its max_age), the
    // refusal of a request without a token, and the health check.
    photos(&api, &seen).await.assert(StatusCode::OK, None, "cached before the provider went down");
    get(&api, "/photos", None).await.assert(StatusCode::UNAUTHORIZED, Some(NO_TOKEN), "no token");
    let health = get(&api, "/health", None).await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_mode_checks_signature_typ_scope_and_issuer_per_rfc9068() {
    let portcullis = Portcullis::start().await;
    let alice = portcullis.user("alice").await;
    let grants = [GrantType::Password, GrantType::AuthorizationCode];
    let photo_app = portcullis.register(&grants, AccessTokenFormat::Jwt).await;
    let api = jwt_api(&portcullis.issuer).await;
    let reader = portcullis.token(&photo_app, "alice", "read").await;
    let writer = portcullis.token(&photo_app, "alice", "read write").await;
    let (header, claims, signature) = split_jwt(&reader);
    assert_eq!(header["typ"], "at+jwt", "RFC 9068 §2.1: the provider types its JWT access tokens");

    let answer = photos(&api, &reader).await;
    answer.assert(StatusCode::OK, None, "a JWT with scope read");
    let holder = &answer.json()["token"];
    assert_eq!(holder["user_id"].as_str(), Some(alice.to_string().as_str()), "sub, the user's id");
    assert_eq!(holder["client_id"].as_str(), Some(photo_app.id.as_str()));
    post_photo(&api, &reader, "Not mine to add").await.assert(
        StatusCode::FORBIDDEN,
        Some(NEEDS_WRITE),
        "read-only POST",
    );
    let added = post_photo(&api, &writer, "Alice's dog").await;
    added.assert(StatusCode::CREATED, None, "a JWT with scope write");
    assert_eq!(added.json()["owner"], format!("user:{alice}"), "JWT access tokens carry no user name");

    // RFC 9068 §4: "The resource server MUST validate the signature of all incoming JWT
    // access tokens according to [RFC7515] using the algorithm specified in the JWT
    // "alg" Header Parameter." A flipped signature, and claims changed under the
    // provider's signature (read-only made read-write), are refused.
    let mut flipped = signature.into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let parts: Vec<&str> = reader.split('.').collect();
    let forged = format!("{}.{}.{flipped}", parts[0], parts[1]);
    photos(&api, &forged).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "a flipped signature");
    let mut escalated = claims.clone();
    escalated["scope"] = "read write".into();
    let escalated = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(escalated.to_string()), parts[2]);
    post_photo(&api, &escalated, "Sneaked in").await.assert(
        StatusCode::UNAUTHORIZED,
        Some(INVALID_TOKEN),
        "claims changed under the signature",
    );

    // RFC 9068 §4: "The resource server MUST verify that the "typ" header value is
    // "at+jwt" or "application/at+jwt" and reject tokens carrying any other value." The
    // same claims signed with the provider's own key: typed JWT (as ID tokens are) they
    // are refused; typed at+jwt they pass, so typ is what decides.
    let keys = &portcullis.provider.state().keys;
    let now = portcullis.clock.now();
    let typed_jwt = keys.sign(SigningAlgorithm::Es256, &claims, now).await.unwrap();
    assert_eq!(split_jwt(&typed_jwt).0["typ"], "JWT");
    photos(&api, &typed_jwt).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "typ JWT");
    let typed_at = keys.sign_typed(SigningAlgorithm::Es256, "at+jwt", &claims, now).await.unwrap();
    photos(&api, &typed_at).await.assert(StatusCode::OK, None, "the same claims, typ at+jwt");
    // And a real ID token from the provider's code flow (OpenID Connect), signed with
    // the same keys as the access tokens: never an access token here.
    let tokens = portcullis.code_flow(&photo_app, "alice").await;
    let id_token = tokens["id_token"].as_str().expect("an ID token for scope openid");
    assert_eq!(split_jwt(id_token).0["typ"], "JWT");
    photos(&api, id_token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "an ID token");
    let access = tokens["access_token"].as_str().unwrap();
    photos(&api, access).await.assert(StatusCode::OK, None, "the access token beside it");

    // RFC 9068 §4: "The issuer identifier for the authorization server (which is
    // typically obtained during discovery) MUST exactly match the value of the "iss"
    // claim." Exactly: one slash more is another issuer.
    let jwks = format!("{}/.well-known/jwks.json", portcullis.issuer);
    let other_issuer = format!("{}/", portcullis.issuer);
    let strict = JwtVerifier::new(jwks, other_issuer.clone(), other_issuer);
    let strict = serve_api(TokenVerifier::new(Arc::new(strict), REALM)).await;
    photos(&strict, &reader).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "iss is another issuer");

    // An opaque token means nothing to an API that only checks JWTs.
    let opaque_app = portcullis.register(&[GrantType::Password], AccessTokenFormat::Opaque).await;
    let opaque = portcullis.token(&opaque_app, "alice", "read").await;
    photos(&api, &opaque).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "an opaque token");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_mode_checks_audience_and_expiry_per_rfc9068() {
    let other_audience = "https://photos.example/api";
    // A provider that names another audience in its JWT access tokens (setting
    // `oauth2.jwt_access_token_audience`), and one whose clock is two days behind, so
    // that its tokens (36000 seconds) expired long ago by the API's clock.
    let (aud, old) = tokio::join!(
        Portcullis::start_with(unix_now(), |config| {
            config.oauth2.jwt_access_token_audience = other_audience.into();
        }),
        Portcullis::start_with(unix_now() - 2 * 86_400, |_| {}),
    );

    // RFC 9068 §4: "The resource server MUST validate that the "aud" claim contains a
    // resource indicator value corresponding to an identifier the resource server
    // expects for itself."
    aud.user("alice").await;
    let app = aud.register(&[GrantType::Password], AccessTokenFormat::Jwt).await;
    let token = aud.token(&app, "alice", "read").await;
    assert_eq!(split_jwt(&token).1["aud"], other_audience);
    let expects_issuer = jwt_api(&aud.issuer).await;
    photos(&expects_issuer, &token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "aud is not this API");
    let expects_it =
        api_with(&[("PHOTOS_VERIFY", "jwt"), ("PORTCULLIS_ISSUER", &aud.issuer), ("PHOTOS_AUDIENCE", other_audience)])
            .await;
    photos(&expects_it, &token).await.assert(StatusCode::OK, None, "PHOTOS_AUDIENCE names it");

    // RFC 9068 §4: "The current time MUST be before the time represented by the "exp"
    // claim."
    old.user("alice").await;
    let app = old.register(&[GrantType::Password], AccessTokenFormat::Jwt).await;
    let token = old.token(&app, "alice", "read").await;
    assert!(split_jwt(&token).1["exp"].as_i64().unwrap() < unix_now());
    let api = jwt_api(&old.issuer).await;
    photos(&api, &token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "expired");
    // Everything but the time is right: a leeway of three days lets it through.
    let jwks = format!("{}/.well-known/jwks.json", old.issuer);
    let lenient =
        JwtVerifier::new(jwks, old.issuer.clone(), old.issuer.clone()).leeway(Duration::from_secs(3 * 86_400));
    let lenient = serve_api(TokenVerifier::new(Arc::new(lenient), REALM)).await;
    photos(&lenient, &token).await.assert(StatusCode::OK, None, "expired, within a leeway of three days");
}

/// The honest revocation story. A JWT checked offline carries its own proof of validity,
/// so an API that checks it against the provider's keys alone cannot learn that the
/// provider revoked it (none of RFC 9068 §4's checks can see a revocation): it accepts
/// the token until its `exp`. An API that introspects learns at once (RFC 7662 §2.2:
/// "active" is false for a token that has been revoked). The offline API keeps working
/// while the provider is down, with the keys it fetched.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_jwt_passes_offline_until_it_expires_but_not_at_introspection() {
    let mut portcullis = Portcullis::start().await;
    portcullis.user("alice").await;
    let photo_app = portcullis.register(&[GrantType::Password], AccessTokenFormat::Jwt).await;
    let offline = jwt_api(&portcullis.issuer).await;
    let cold = jwt_api(&portcullis.issuer).await;
    let introspecting = introspecting_api(&portcullis, &portcullis.api_client().await, "0").await;
    let token = portcullis.token(&photo_app, "alice", "read").await;
    photos(&offline, &token).await.assert(StatusCode::OK, None, "a JWT, checked offline");
    photos(&introspecting, &token).await.assert(StatusCode::OK, None, "a JWT, introspected");

    portcullis.revoke(&photo_app, &token).await;
    photos(&introspecting, &token).await.assert(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "revoked, introspected");
    photos(&offline, &token).await.assert(StatusCode::OK, None, "revoked, but offline nothing says so");

    portcullis.stop().await;
    photos(&offline, &token).await.assert(StatusCode::OK, None, "provider down: the fetched keys still verify");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = split_jwt(&token).1;
    claims["scope"] = "read write".into();
    let escalated = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    post_photo(&offline, &escalated, "Sneaked in").await.assert(
        StatusCode::UNAUTHORIZED,
        Some(INVALID_TOKEN),
        "provider down: a forgery is still refused",
    );
    // Without the keys, or without the provider to ask, nothing can be told: 503.
    photos(&cold, &token).await.assert(StatusCode::SERVICE_UNAVAILABLE, None, "provider down, keys never fetched");
    photos(&introspecting, &token).await.assert(StatusCode::SERVICE_UNAVAILABLE, None, "provider down, introspected");
}
