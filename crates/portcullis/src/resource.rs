//! The server's side of protected resources: the
//! [`Verifier`](portcullis_axum::Verifier) that checks bearer tokens against the store,
//! and the example API of the contract, guarded by the extractors of `portcullis-axum`
//! exactly as a host application would guard its own. The API is the protected
//! resource `{base}/api` (RFC 9728), with its metadata at
//! `/.well-known/oauth-protected-resource/api`.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};
use portcullis_axum::resource::InvalidResource;
use portcullis_axum::{
    require_scopes, Authenticated, ProtectedResource, ReadWrite, ScopeSet, Scoped, TokenInfo, TokenVerifier, Verifier,
    VerifyError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::TokenHash;
use crate::http::{route_both, AppState};
use crate::paths;
use crate::store::{ProfileUpdate, Store, StoreError, User};

/// Checks access tokens by the hash of their value.
///
/// Put in a [`TokenVerifier`](portcullis_axum::TokenVerifier), it is what
/// [`Provider::verifier`](crate::provider::Provider::verifier) gives a host; here it is
/// asked directly about a token stored by hand:
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis::clock::ManualClock;
/// use portcullis::crypto::{random_alphanumeric, Secret};
/// use portcullis::resource::StoreVerifier;
/// use portcullis::proto::GrantType;
/// use portcullis::store::{self, ApplicationSettings, NewTokens};
/// use portcullis_axum::Verifier;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
/// let now = 1_700_000_000;
/// let settings = ApplicationSettings {
///     name: "Reports".into(),
///     grant_types: vec![GrantType::ClientCredentials],
///     ..ApplicationSettings::default()
/// };
/// let secret = Secret::generate().hash();
/// let app = store.create_application(&random_alphanumeric(32), Some(&secret), None, &settings, now).await?;
/// // An access token for an hour; the store keeps only its hash.
/// let token = Secret::generate();
/// let stored = NewTokens {
///     application_id: app.id,
///     user_id: None,
///     scope: "read".into(),
///     audience: "https://reports.example/api".into(), // RFC 8707: bound to one API
///     created_at: now,
///     access_hash: token.hash(),
///     access_expires_at: now + 3600,
///     code_id: None,
///     refresh: None,
/// };
/// store.insert_token(&stored).await?;
///
/// let clock = Arc::new(ManualClock::new(now));
/// let verifier = StoreVerifier::new(store.clone(), clock.clone());
/// let info = verifier.verify(token.expose()).await?;
/// let answer = info.map(|t| (t.client_id, t.scope.to_string(), t.audience));
/// assert_eq!(answer, Some((app.client_id.clone(), "read".into(), vec!["https://reports.example/api".into()])));
/// assert_eq!(verifier.verify("a guess").await?, None);
///
/// // Revoked (RFC 7009), it is refused at once, by both kinds of verifier.
/// let uncached = StoreVerifier::uncached(store.clone(), clock.clone());
/// let id = store.access_token(&token.hash()).await?.map(|record| record.id).unwrap_or_default();
/// store.revoke_access_token(id, now + 60).await?;
/// assert_eq!(verifier.verify(token.expose()).await?, None);
/// assert_eq!(uncached.verify(token.expose()).await?, None);
/// # Ok(())
/// # }
/// ```
pub struct StoreVerifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    uncached: bool,
}

impl StoreVerifier {
    /// Checks tokens against `store` at `clock`'s time, through the store's cache: a
    /// change made by another instance shows within the cache's bound.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, uncached: false }
    }

    /// Checks tokens as the database has them now, past the cache where other instances
    /// share it: what introspection answers with (RFC 7662 §2.2, "active": "whether or
    /// not the presented token is currently active").
    pub fn uncached(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, uncached: true }
    }
}

#[async_trait]
impl Verifier for StoreVerifier {
    async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
        let hash = TokenHash::of(token);
        let record = if self.uncached {
            self.store.access_token_uncached(&hash).await
        } else {
            self.store.access_token(&hash).await
        };
        let record = record.map_err(|e| VerifyError(e.to_string()))?;
        Ok(record.filter(|r| r.is_valid(self.clock.now())).map(|r| TokenInfo {
            scope: ScopeSet::parse(&r.scope).unwrap_or_default(),
            client_id: r.client_id,
            user_id: r.user_id.map(|id| id.to_string()),
            username: r.username,
            expires_at: r.expires_at,
            issued_at: r.created_at,
            // The resources the token is bound to (RFC 8707), kept space-separated.
            audience: crate::store::split_list(&r.audience),
        }))
    }
}

require_scopes!(GroupsScope = ["groups"]);

/// Every scope a route of the example API asks for ([`ReadWrite`], [`GroupsScope`]):
/// its metadata's `scopes_supported`.
const API_SCOPES: [&str; 3] = ["read", "write", "groups"];

/// The example API as a protected resource (RFC 9728 §2): the resource `{base}/api`
/// (the server's public base, from `oidc.issuer`), whose tokens this server's issuer
/// issues, and the API's scopes that the server offers (`[oauth2] scopes`). Fails only
/// for an issuer that is not an http(s) URL, which the settings refuse while OpenID
/// Connect is on.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::resource::api_resource;
///
/// let mut config = Config::defaults();
/// config.oidc.issuer = "https://shop.example/auth/o".into();
/// let api = api_resource(&config)?;
/// assert_eq!(api.uri(), "https://shop.example/auth/api");
/// assert_eq!(api.metadata_url(), "https://shop.example/.well-known/oauth-protected-resource/auth/api");
/// assert_eq!(api.authorization_servers(), ["https://shop.example/auth/o"]);
/// assert_eq!(api.scopes(), ["read", "write", "groups"]);
/// # Ok::<(), portcullis_axum::resource::InvalidResource>(())
/// ```
pub fn api_resource(config: &Config) -> Result<ProtectedResource, InvalidResource> {
    let offered = API_SCOPES.into_iter().filter(|scope| config.oauth2.scopes.contains_key(*scope));
    Ok(ProtectedResource::new(config.public_url(paths::API))?
        .authorization_server(config.oidc.issuer.clone())
        .scopes_supported(offered)
        .resource_name("Portcullis example API"))
}

/// What the example API's handlers share: the server's state, and the verifier that
/// guards the API as a protected resource (the server's own, which UserInfo and the
/// host's routes use, checks no audience). Behind one `Arc`: axum clones the state for
/// every request, and the extractors take what they need from it.
#[derive(Clone)]
struct ApiState(Arc<ApiParts>);

struct ApiParts {
    app: AppState,
    verifier: TokenVerifier,
}

impl ApiState {
    fn new(app: &AppState, verifier: TokenVerifier) -> Self {
        Self(Arc::new(ApiParts { app: app.clone(), verifier }))
    }
}

impl FromRef<ApiState> for AppState {
    fn from_ref(state: &ApiState) -> Self {
        state.0.app.clone()
    }
}

impl FromRef<ApiState> for TokenVerifier {
    fn from_ref(state: &ApiState) -> Self {
        state.0.verifier.clone()
    }
}

/// The example API and its metadata document.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let routes = route_both(Router::new(), paths::API_HELLO, get(hello));
    let routes = route_both(routes, paths::API_ME, get(me).patch(update_me));
    let routes = route_both(routes, paths::API_GROUPS, get(groups));
    let resource = match api_resource(&state.config) {
        Ok(resource) => resource,
        Err(error) => {
            // With no public URL there is no resource to name: the API as RFC 6750
            // alone has it.
            tracing::warn!(%error, "the example API is served without protected resource metadata");
            return routes.with_state(ApiState::new(state, state.verifier.clone()));
        }
    };
    let verifier = state.verifier.clone().protecting(resource.clone());
    let router = routes
        .with_state(ApiState::new(state, verifier))
        .route(paths::API_RESOURCE_METADATA, resource.metadata_route());
    // An issuer with a path below its origin puts the metadata at
    // `/.well-known/oauth-protected-resource/{path}/api` (RFC 9728 §3.1). Below a
    // prefix, [`Provider::router`](crate::provider::Provider::router) serves it at the
    // host's root; at the root, so does this router, for a proxy that passes that path
    // on as it is.
    if state.base.is_empty() && resource.metadata_path() != paths::API_RESOURCE_METADATA {
        router.merge(resource.router())
    } else {
        router
    }
}

/// `GET /api/hello/`: any valid token.
async fn hello(_: Authenticated) -> &'static str {
    "Hello, there!!"
}

#[derive(Serialize)]
struct Me {
    id: i64,
    username: String,
    email: String,
    first_name: String,
    last_name: String,
    groups: Vec<String>,
}

/// Failures of the example API. Tokens without a user get a clear 403, not a 500.
enum ApiError {
    NoUser,
    Invalid(String),
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.response();
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl ApiError {
    fn response(self) -> Response {
        match self {
            Self::NoUser => (
                StatusCode::FORBIDDEN,
                Json(json!({"error": "no_user", "error_description": "this token does not act for a user"})),
            )
                .into_response(),
            Self::Invalid(why) => {
                (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": why})))
                    .into_response()
            }
            Self::Store(e) => {
                tracing::error!(error = %e, "api request failed");
                let status = match e {
                    StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, Json(json!({"error": "server_error"}))).into_response()
            }
        }
    }
}

async fn token_user(store: &dyn Store, token: &TokenInfo) -> Result<User, ApiError> {
    let id = token.user_id.as_deref().and_then(|id| id.parse().ok()).ok_or(ApiError::NoUser)?;
    store.user_by_id(id).await?.filter(|u| u.is_active).ok_or(ApiError::NoUser)
}

async fn me_json(store: &dyn Store, user: User) -> Result<Json<Me>, ApiError> {
    let groups = store.user_groups(user.id).await?;
    Ok(Json(Me {
        id: user.id,
        username: user.username,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        groups,
    }))
}

/// `GET /api/me/`: scope `read`.
async fn me(State(state): State<AppState>, Scoped(token, ..): Scoped<ReadWrite>) -> Result<Json<Me>, ApiError> {
    let user = token_user(state.store.as_ref(), &token).await?;
    me_json(state.store.as_ref(), user).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeUpdate {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
}

impl MeUpdate {
    /// Django's limits: 150 characters for names, 254 for an address.
    fn validate(self) -> Result<ProfileUpdate, String> {
        let check = |value: &Option<String>, field: &str, max: usize| match value {
            Some(v) if v.chars().count() > max => Err(format!("{field} must be at most {max} characters")),
            Some(v) if v.chars().any(char::is_control) => Err(format!("{field} must not contain control characters")),
            _ => Ok(()),
        };
        check(&self.first_name, "first_name", 150)?;
        check(&self.last_name, "last_name", 150)?;
        check(&self.email, "email", 254)?;
        if let Some(email) = &self.email {
            let valid = match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
                }
                None => false,
            };
            if !valid && !email.is_empty() {
                return Err("email is not a valid address".into());
            }
        }
        Ok(ProfileUpdate { first_name: self.first_name, last_name: self.last_name, email: self.email })
    }
}

/// `PATCH /api/me/`: scope `write`.
async fn update_me(
    State(state): State<AppState>,
    Scoped(token, ..): Scoped<ReadWrite>,
    body: Result<Json<MeUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Me>, ApiError> {
    let Json(update) = body.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let update = update.validate().map_err(ApiError::Invalid)?;
    let user = token_user(state.store.as_ref(), &token).await?;
    let user = state.store.update_profile(user.id, &update).await?.ok_or(ApiError::NoUser)?;
    me_json(state.store.as_ref(), user).await
}

/// `GET /api/groups/`: scope `groups`; the user's groups as `[{"name": …}]`.
async fn groups(State(state): State<AppState>, Scoped(token, ..): Scoped<GroupsScope>) -> Result<Response, ApiError> {
    let user = token_user(state.store.as_ref(), &token).await?;
    let groups = state.store.user_groups(user.id).await?;
    let body: Vec<_> = groups.into_iter().map(|name| json!({ "name": name })).collect();
    Ok(Json(body).into_response())
}
