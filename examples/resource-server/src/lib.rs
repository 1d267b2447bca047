//! A photo-sharing API that runs as a process of its own and checks the tokens
//! Portcullis issues without touching Portcullis's database, as a Django API does with
//! django-oauth-toolkit's `RESOURCE_SERVER_INTROSPECTION_URL`. It depends on
//! `portcullis-axum` only: no database driver, no templates.
//!
//! 1. **Say what each route needs.** [`api`] guards `/photos` with `Scoped<ReadWrite>`:
//!    `GET` needs scope `read`, `POST` needs `write`; `/health` is open. A missing or bad
//!    token gets `401`, a weak one `403`, each with RFC 6750's `WWW-Authenticate: Bearer`
//!    challenge, and a token that cannot be checked right now gets `503`.
//! 2. **Choose how tokens are checked** ([`Settings::from_env`]):
//!    - `PHOTOS_VERIFY=introspection` asks Portcullis about each token (RFC 7662) at
//!      `$PORTCULLIS_URL/o/introspect/`, as the confidential application
//!      `PHOTOS_CLIENT_ID` / `PHOTOS_CLIENT_SECRET`, and trusts each answer for
//!      `PHOTOS_CACHE_SECONDS` (default 10): a revocation holds within that time.
//!    - `PHOTOS_VERIFY=jwt` checks JWT access tokens (RFC 9068) here, with the keys
//!      Portcullis publishes at `$PORTCULLIS_ISSUER/.well-known/jwks.json`, for the
//!      audience `PHOTOS_AUDIENCE` (default: the issuer). No request per token, and it
//!      keeps working while Portcullis is down; the price is that a revoked token
//!      passes until its `exp`.
//! 3. **Serve it** (`src/main.rs`): [`Settings::verifier`] into [`api`], on `PHOTOS_BIND`
//!    (default `127.0.0.1:9000`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis_example_resource_server::{api, Settings};
//!
//! let settings = Settings::from_env()?;
//! let listener = tokio::net::TcpListener::bind(settings.bind).await?;
//! axum::serve(listener, api(settings.verifier())).await?;
//! # Ok(())
//! # }
//! ```

use std::env::VarError;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_axum::{IntrospectionVerifier, JwtVerifier, ReadWrite, Scoped, TokenInfo, TokenVerifier};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The realm named in this API's `WWW-Authenticate` challenges (RFC 6750 §3).
pub const REALM: &str = "photos";

/// Where the API listens unless `PHOTOS_BIND` says otherwise: beside `portcullis serve`
/// and its default `127.0.0.1:8000`.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9000));

/// How long an introspection answer is trusted unless `PHOTOS_CACHE_SECONDS` says
/// otherwise: the kit's default, short enough that a revocation holds within seconds.
pub const DEFAULT_CACHE_SECONDS: u64 = 10;

/// The most photos the album keeps: it lives in memory, and any holder of a `write`
/// token could otherwise grow it without end.
const MAX_PHOTOS: usize = 1000;

/// The longest title taken, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// The photo-sharing API, checking tokens with `verifier`:
///
/// - `GET /photos` (scope `read`): the album, and whose token asked;
/// - `POST /photos` (scope `write`), JSON `{"title": "..."}`: adds a photo, `201`;
/// - `GET /health`: `ok`, with no token, so that a load balancer can tell the process
///   is up even while the provider is not.
pub fn api(verifier: TokenVerifier) -> Router {
    let state = Photos { verifier, album: Arc::new(Mutex::new(Album::sample())) };
    Router::new()
        .route("/photos", get(list_photos).post(add_photo))
        .route("/health", get(|| async { "ok" }))
        .with_state(state)
}

/// The API's state: the verifier the extractors find through [`FromRef`], and the album.
#[derive(Clone)]
struct Photos {
    verifier: TokenVerifier,
    album: Arc<Mutex<Album>>,
}

impl FromRef<Photos> for TokenVerifier {
    fn from_ref(photos: &Photos) -> Self {
        photos.verifier.clone()
    }
}

impl Photos {
    fn album(&self) -> std::sync::MutexGuard<'_, Album> {
        // A handler that panicked half-way cannot leave the album inconsistent: every
        // change is one push.
        self.album.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The photos, in memory: an example keeps no database.
struct Album {
    photos: Vec<Photo>,
    next_id: u64,
}

impl Album {
    fn sample() -> Self {
        let photos = vec![
            Photo { id: 1, title: "Harbour at dawn".into(), owner: "photos".into() },
            Photo { id: 2, title: "Portcullis, half raised".into(), owner: "photos".into() },
        ];
        Self { photos, next_id: 3 }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Photo {
    id: u64,
    title: String,
    /// Who added it: the user's name, else the user's id, else the client acting for
    /// itself (client credentials).
    owner: String,
}

/// Whose token a request carried, as the answer shows it. Nothing of the token itself.
#[derive(Serialize)]
struct Holder<'a> {
    client_id: &'a str,
    user_id: Option<&'a str>,
    username: Option<&'a str>,
    scope: String,
}

impl<'a> From<&'a TokenInfo> for Holder<'a> {
    fn from(token: &'a TokenInfo) -> Self {
        Self {
            client_id: &token.client_id,
            user_id: token.user_id.as_deref(),
            username: token.username.as_deref(),
            scope: token.scope.to_string(),
        }
    }
}

/// The owner recorded for a photo. JWT access tokens carry no user name (only `sub`),
/// introspection answers do.
fn owner_of(token: &TokenInfo) -> String {
    match (&token.username, &token.user_id) {
        (Some(username), _) => username.clone(),
        (None, Some(id)) => format!("user:{id}"),
        (None, None) => format!("client:{}", token.client_id),
    }
}

/// `GET /photos`: `ReadWrite` demands `read` for safe methods.
async fn list_photos(State(photos): State<Photos>, Scoped(token, ..): Scoped<ReadWrite>) -> Response {
    let photos = photos.album().photos.clone();
    Json(json!({ "token": Holder::from(&token), "photos": photos })).into_response()
}

#[derive(Deserialize)]
struct NewPhoto {
    title: String,
}

/// `POST /photos`: `ReadWrite` demands `write` for every unsafe method. The token is
/// checked before the body is read, so a weak token gets `403` whatever it sends.
async fn add_photo(
    State(photos): State<Photos>,
    Scoped(token, ..): Scoped<ReadWrite>,
    Json(new): Json<NewPhoto>,
) -> Response {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        let description = format!("title must have 1 to {MAX_TITLE_CHARS} characters");
        return refusal(StatusCode::UNPROCESSABLE_ENTITY, "invalid_title", &description);
    }
    let mut album = photos.album();
    if album.photos.len() >= MAX_PHOTOS {
        return refusal(StatusCode::INSUFFICIENT_STORAGE, "album_full", "the album holds no more photos");
    }
    let photo = Photo { id: album.next_id, title: title.to_owned(), owner: owner_of(&token) };
    album.next_id += 1;
    album.photos.push(photo.clone());
    drop(album);
    tracing::info!(id = photo.id, owner = %photo.owner, "photo added");
    (StatusCode::CREATED, Json(photo)).into_response()
}

fn refusal(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({ "error": code, "error_description": description }))).into_response()
}

/// What the process is configured with, from environment variables (see the crate
/// documentation). Parsing checks everything it can without the network, so that a
/// mistake stops the process at start with one line naming the variable, rather than
/// showing up as `503` on every request.
#[derive(Debug)]
pub struct Settings {
    /// `PHOTOS_BIND`.
    pub bind: SocketAddr,
    pub verification: Verification,
}

/// How tokens are checked: `PHOTOS_VERIFY`.
#[derive(Debug)]
pub enum Verification {
    /// Ask the provider (RFC 7662).
    Introspection {
        /// `$PORTCULLIS_URL/o/introspect/`.
        endpoint: String,
        /// `PHOTOS_CLIENT_ID`: this API's confidential application at the provider.
        client_id: String,
        /// `PHOTOS_CLIENT_SECRET`.
        client_secret: ClientSecret,
        /// `PHOTOS_CACHE_SECONDS`: how long an answer is trusted; zero asks every time.
        cache: Duration,
    },
    /// Check JWT access tokens here (RFC 9068).
    Jwt {
        /// `$PORTCULLIS_ISSUER/.well-known/jwks.json`.
        jwks_url: String,
        /// `PORTCULLIS_ISSUER`, compared exactly with each token's `iss`.
        issuer: String,
        /// `PHOTOS_AUDIENCE`: what each token's `aud` must name.
        audience: String,
    },
}

/// A client secret: never printed, so that logging the settings is safe.
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A variable that is missing or wrong, in one line that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Reads the process's environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name))
    }

    /// Reads variables through `lookup`, which answers as [`std::env::var`] does: for
    /// tests, and for hosts that keep their settings elsewhere. Values are trimmed, and
    /// an empty one counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Result<String, VarError>) -> Result<Self, SettingsError> {
        let vars = Vars(&lookup);
        let bind = match vars.get("PHOTOS_BIND")? {
            None => DEFAULT_BIND,
            Some(bind) => bind.parse().map_err(|_| {
                SettingsError(format!(
                    "PHOTOS_BIND is {bind:?}: expected an IP address and port such as {DEFAULT_BIND}"
                ))
            })?,
        };
        let mode = vars.require(
            "PHOTOS_VERIFY",
            "introspection (ask Portcullis about each token) or jwt (check JWT access tokens with its published keys)",
        )?;
        let verification = match mode.as_str() {
            "introspection" => {
                let url = http_url(
                    "PORTCULLIS_URL",
                    vars.require("PORTCULLIS_URL", "where Portcullis answers, such as http://127.0.0.1:8000")?,
                )?;
                let client_id = vars.require(
                    "PHOTOS_CLIENT_ID",
                    "the client id of this API's confidential application at Portcullis",
                )?;
                let client_secret = ClientSecret(vars.require("PHOTOS_CLIENT_SECRET", "that application's secret")?);
                let cache = match vars.get("PHOTOS_CACHE_SECONDS")? {
                    None => DEFAULT_CACHE_SECONDS,
                    Some(seconds) => seconds.parse().map_err(|_| {
                        SettingsError(format!(
                            "PHOTOS_CACHE_SECONDS is {seconds:?}: expected a whole number of seconds (0 turns the cache off)"
                        ))
                    })?,
                };
                Verification::Introspection {
                    endpoint: format!("{}/o/introspect/", url.trim_end_matches('/')),
                    client_id,
                    client_secret,
                    cache: Duration::from_secs(cache),
                }
            }
            "jwt" => {
                // Kept exactly as given: RFC 9068 §4 compares it with `iss` exactly.
                let issuer = http_url(
                    "PORTCULLIS_ISSUER",
                    vars.require("PORTCULLIS_ISSUER", "Portcullis's oidc.issuer, such as http://127.0.0.1:8000/o")?,
                )?;
                // The Portcullis server's default `aud` for JWT access tokens is its
                // issuer (setting `oauth2.jwt_access_token_audience`).
                let audience = vars.get("PHOTOS_AUDIENCE")?.unwrap_or_else(|| issuer.clone());
                Verification::Jwt {
                    jwks_url: format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
                    issuer,
                    audience,
                }
            }
            other => return Err(SettingsError(format!("PHOTOS_VERIFY is {other:?}: expected introspection or jwt"))),
        };
        Ok(Self { bind, verification })
    }

    /// The verifier these settings describe, for [`api`]. Nothing is fetched yet: the
    /// first token does that.
    pub fn verifier(&self) -> TokenVerifier {
        match &self.verification {
            Verification::Introspection { endpoint, client_id, client_secret, cache } => {
                let verifier = IntrospectionVerifier::new(endpoint.clone(), client_id.clone(), client_secret.expose())
                    .max_age(*cache);
                TokenVerifier::new(Arc::new(verifier), REALM)
            }
            Verification::Jwt { jwks_url, issuer, audience } => {
                let verifier = JwtVerifier::new(jwks_url.clone(), issuer.clone(), audience.clone());
                TokenVerifier::new(Arc::new(verifier), REALM)
            }
        }
    }
}

/// The variables, read through the lookup [`Settings::from_lookup`] was given.
struct Vars<'a>(&'a dyn Fn(&str) -> Result<String, VarError>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Result<Option<String>, SettingsError> {
        match (self.0)(name) {
            Ok(value) => Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty())),
            Err(VarError::NotPresent) => Ok(None),
            Err(VarError::NotUnicode(_)) => Err(SettingsError(format!("{name} is not valid UTF-8"))),
        }
    }

    /// A variable that must be set; `what` says what it should hold.
    fn require(&self, name: &str, what: &str) -> Result<String, SettingsError> {
        self.get(name)?.ok_or_else(|| SettingsError(format!("{name} is not set: {what}")))
    }
}

/// `value`, if it is an absolute `http://` or `https://` URL with a host and no query or
/// fragment (paths are appended to it).
fn http_url(name: &str, value: String) -> Result<String, SettingsError> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    let host = rest.map(|rest| rest.split('/').next().unwrap_or_default());
    if host.is_some_and(|host| !host.is_empty()) && !value.contains(['?', '#']) && !value.contains(char::is_whitespace)
    {
        Ok(value)
    } else {
        Err(SettingsError(format!(
            "{name} is {value:?}: expected an http:// or https:// URL with a host and no query, such as http://127.0.0.1:8000"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| vars.get(name).cloned().ok_or(VarError::NotPresent))
    }

    fn error(vars: &[(&str, &str)]) -> String {
        settings(vars).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn introspection_settings_with_defaults() {
        let settings = settings(&[
            ("PHOTOS_VERIFY", "introspection"),
            ("PORTCULLIS_URL", "http://127.0.0.1:8000/"),
            ("PHOTOS_CLIENT_ID", "photos-api"),
            ("PHOTOS_CLIENT_SECRET", " s3cr3t\n"),
        ])
        .unwrap();
        assert_eq!(settings.bind.to_string(), "127.0.0.1:9000");
        let Verification::Introspection { endpoint, client_id, client_secret, cache } = &settings.verification else {
            panic!("{settings:?}");
        };
        assert_eq!(endpoint, "http://127.0.0.1:8000/o/introspect/");
        assert_eq!((client_id.as_str(), client_secret.expose()), ("photos-api", "s3cr3t"));
        assert_eq!(*cache, Duration::from_secs(10));
        assert!(!format!("{settings:?}").contains("s3cr3t"), "the secret is never printed");
    }

    #[test]
    fn jwt_settings_default_the_audience_to_the_issuer() {
        let defaulted = settings(&[
            ("PHOTOS_VERIFY", "jwt"),
            ("PORTCULLIS_ISSUER", "https://auth.example/o"),
            ("PHOTOS_BIND", "0.0.0.0:9100"),
        ])
        .unwrap();
        assert_eq!(defaulted.bind.to_string(), "0.0.0.0:9100");
        let Verification::Jwt { jwks_url, issuer, audience } = &defaulted.verification else {
            panic!("{defaulted:?}");
        };
        assert_eq!(jwks_url, "https://auth.example/o/.well-known/jwks.json");
        assert_eq!((issuer.as_str(), audience.as_str()), ("https://auth.example/o", "https://auth.example/o"));

        let chosen = settings(&[
            ("PHOTOS_VERIFY", "jwt"),
            ("PORTCULLIS_ISSUER", "https://auth.example/o"),
            ("PHOTOS_AUDIENCE", "https://photos.example/"),
        ])
        .unwrap();
        assert!(
            matches!(chosen.verification, Verification::Jwt { audience, .. } if audience == "https://photos.example/")
        );
    }

    #[test]
    fn mistakes_name_the_variable_in_one_line() {
        let introspection = [
            ("PHOTOS_VERIFY", "introspection"),
            ("PORTCULLIS_URL", "http://127.0.0.1:8000"),
            ("PHOTOS_CLIENT_ID", "photos-api"),
            ("PHOTOS_CLIENT_SECRET", "s3cr3t"),
        ];
        let with = |name: &'static str, value: &'static str| {
            let mut vars: Vec<(&str, &str)> = introspection.iter().filter(|(n, _)| *n != name).copied().collect();
            vars.push((name, value));
            error(&vars)
        };
        let cases = [
            (error(&[]), "PHOTOS_VERIFY is not set"),
            (error(&[("PHOTOS_VERIFY", "maybe")]), "PHOTOS_VERIFY is \"maybe\": expected introspection or jwt"),
            (error(&[("PHOTOS_VERIFY", "jwt")]), "PORTCULLIS_ISSUER is not set"),
            (error(&[("PHOTOS_VERIFY", "jwt"), ("PORTCULLIS_ISSUER", "auth.example/o")]), "PORTCULLIS_ISSUER is"),
            (with("PORTCULLIS_URL", ""), "PORTCULLIS_URL is not set"),
            (with("PORTCULLIS_URL", "ftp://127.0.0.1"), "PORTCULLIS_URL is \"ftp://127.0.0.1\""),
            (with("PORTCULLIS_URL", "http://"), "PORTCULLIS_URL is \"http://\""),
            (with("PORTCULLIS_URL", "http://a.example/?x=1"), "PORTCULLIS_URL is"),
            (with("PHOTOS_CLIENT_ID", " "), "PHOTOS_CLIENT_ID is not set"),
            (with("PHOTOS_CLIENT_SECRET", ""), "PHOTOS_CLIENT_SECRET is not set"),
            (with("PHOTOS_CACHE_SECONDS", "ten"), "PHOTOS_CACHE_SECONDS is \"ten\": expected a whole number"),
            (with("PHOTOS_CACHE_SECONDS", "-1"), "PHOTOS_CACHE_SECONDS is \"-1\""),
            (with("PHOTOS_BIND", "localhost"), "PHOTOS_BIND is \"localhost\": expected an IP address and port"),
        ];
        for (message, expected) in cases {
            assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
            assert!(!message.contains('\n') && !message.contains("s3cr3t"), "{message:?}");
        }
        let not_unicode = Settings::from_lookup(|_| Err(VarError::NotUnicode("\u{fffd}".into())));
        assert_eq!(not_unicode.err().map(|e| e.to_string()).as_deref(), Some("PHOTOS_BIND is not valid UTF-8"));
    }

    #[test]
    fn owners_are_named_as_well_as_the_token_allows() {
        let mut token = TokenInfo {
            scope: portcullis_axum::ScopeSet::parse("write").unwrap(),
            client_id: "c".into(),
            user_id: Some("7".into()),
            username: Some("alice".into()),
            expires_at: 0,
            issued_at: 0,
            audience: Vec::new(),
        };
        assert_eq!(owner_of(&token), "alice");
        token.username = None;
        assert_eq!(owner_of(&token), "user:7");
        token.user_id = None;
        assert_eq!(owner_of(&token), "client:c");
    }
}
