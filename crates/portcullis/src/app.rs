//! The axum application: state shared by every handler, the route table, and serving.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use portcullis_axum::TokenVerifier;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::accounts::{Accounts, StoreAccounts};
use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::edge::EdgeLayer;
use crate::hooks::{Hooks, NoHooks};
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::oauth;
use crate::oidc::keys::KeyRing;
use crate::pages::{self, templates::TemplateError, Templates};
use crate::resource::{self, StoreVerifier};
use crate::store::Store;

/// Every path the server answers. The router, and later discovery metadata, read them
/// from here. Each also answers without its trailing slash.
///
/// A host that links to the provider builds its URLs from them:
///
/// ```
/// use portcullis::app::paths;
/// use portcullis::config::Config;
///
/// let mut config = Config::defaults();
/// config.oidc.issuer = "https://shop.example/auth/o".into();
/// assert_eq!(config.public_url(paths::AUTHORIZE), "https://shop.example/auth/o/authorize/");
/// assert_eq!(config.public_url(paths::LOGIN), "https://shop.example/auth/accounts/login/");
/// // Discovery sits below the issuer (OpenID Connect Discovery §4).
/// let discovery = config.public_url(paths::OPENID_CONFIGURATION);
/// assert_eq!(discovery, format!("{}/.well-known/openid-configuration", config.oidc.issuer));
/// ```
pub mod paths {
    /// RFC 6749 §3.1: the authorization endpoint, where the browser asks for a code or
    /// token.
    pub const AUTHORIZE: &str = "/o/authorize/";
    /// RFC 6749 §3.2: the token endpoint, where clients exchange grants for tokens.
    pub const TOKEN: &str = "/o/token/";
    /// RFC 7009 §2: the revocation endpoint.
    pub const REVOKE: &str = "/o/revoke_token/";
    /// RFC 7662 §2: the introspection endpoint.
    pub const INTROSPECT: &str = "/o/introspect/";
    /// RFC 8628 §3.1: where devices ask for a device code.
    pub const DEVICE_AUTHORIZATION: &str = "/o/device-authorization/";
    /// RFC 8628 §3.3: where the user types the user code (`verification_uri`).
    pub const DEVICE: &str = "/o/device/";
    // --- OpenID Connect and RFC 8414 metadata ---
    /// OpenID Connect Core §5.3: the UserInfo endpoint.
    pub const USERINFO: &str = "/o/userinfo/";
    /// OpenID Connect RP-Initiated Logout 1.0's end-session endpoint.
    pub const END_SESSION: &str = "/o/logout/";
    /// The JWK Set (RFC 7517 §5) of the public signing keys: discovery's `jwks_uri`.
    pub const JWKS: &str = "/o/.well-known/jwks.json";
    /// OpenID Connect Discovery §4: the issuer (`…/o`) followed by this suffix.
    pub const OPENID_CONFIGURATION: &str = "/o/.well-known/openid-configuration";
    /// The same document at the root, where some clients look for it.
    pub const OPENID_CONFIGURATION_ROOT: &str = "/.well-known/openid-configuration";
    /// RFC 8414 §3: the well-known suffix goes between the host and the issuer's path,
    /// so the issuer `…/o` is described at `/.well-known/oauth-authorization-server/o`.
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server/o";
    /// The same metadata at the root, for clients that do not insert the issuer's path.
    pub const OAUTH_METADATA_ROOT: &str = "/.well-known/oauth-authorization-server";
    /// The example API: any valid token.
    pub const API_HELLO: &str = "/api/hello/";
    /// The example API: the token's user, who may change their name and email.
    pub const API_ME: &str = "/api/me/";
    /// The example API: the token's user's groups, with the `groups` scope.
    pub const API_GROUPS: &str = "/api/groups/";
    // --- Application management and authorized-token pages ---
    /// The logged-in user's own applications.
    pub const APPLICATIONS: &str = "/o/applications/";
    /// Registering a new application.
    pub const APPLICATION_REGISTER: &str = "/o/applications/register/";
    /// One of the user's applications.
    pub const APPLICATION_DETAIL: &str = "/o/applications/{id}/";
    /// Changing an application's settings.
    pub const APPLICATION_UPDATE: &str = "/o/applications/{id}/update/";
    /// Deleting an application, with its tokens.
    pub const APPLICATION_DELETE: &str = "/o/applications/{id}/delete/";
    /// Replacing a confidential application's secret.
    pub const APPLICATION_SECRET: &str = "/o/applications/{id}/secret/";
    /// The applications the user has given access, with a button to take it back.
    pub const AUTHORIZED_TOKENS: &str = "/o/authorized_tokens/";
    /// Taking back an application's access.
    pub const AUTHORIZED_TOKEN_DELETE: &str = "/o/authorized_tokens/{id}/delete/";
    // --- Admin pages ---
    /// The staff pages' overview.
    pub const ADMIN: &str = "/admin/";
    /// Staff: the users, searchable.
    pub const ADMIN_USERS: &str = "/admin/users/";
    /// Staff: creating a user.
    pub const ADMIN_USER_NEW: &str = "/admin/users/new/";
    /// Staff: one user.
    pub const ADMIN_USER: &str = "/admin/users/{id}/";
    /// Staff: activating or deactivating a user.
    pub const ADMIN_USER_ACTIVE: &str = "/admin/users/{id}/active/";
    /// Staff: setting a user's password.
    pub const ADMIN_USER_PASSWORD: &str = "/admin/users/{id}/password/";
    /// Staff: setting a user's groups.
    pub const ADMIN_USER_GROUPS: &str = "/admin/users/{id}/groups/";
    /// Staff: every user's applications.
    pub const ADMIN_APPLICATIONS: &str = "/admin/applications/";
    /// Staff: one application.
    pub const ADMIN_APPLICATION: &str = "/admin/applications/{id}/";
    /// Staff: changing any application's settings (skip authorization, grant types,
    /// allowed scopes, redirect URIs, …).
    pub const ADMIN_APPLICATION_UPDATE: &str = "/admin/applications/{id}/update/";
    /// Staff: deleting an application.
    pub const ADMIN_APPLICATION_DELETE: &str = "/admin/applications/{id}/delete/";
    /// Staff: the access tokens, filtered by user or client.
    pub const ADMIN_TOKENS: &str = "/admin/tokens/";
    /// Staff: revoking an access token.
    pub const ADMIN_TOKEN_REVOKE: &str = "/admin/tokens/{id}/revoke/";
    /// Staff: the audit log, filtered by kind, user or client.
    pub const ADMIN_AUDIT: &str = "/admin/audit/";
    // --- Playground ---
    /// A page where a logged-in user runs the authorization code flow with PKCE against
    /// this server with one of their applications, every request and answer shown.
    pub const PLAYGROUND: &str = "/o/playground/";
    /// The playground's redirection URI.
    pub const PLAYGROUND_CALLBACK: &str = "/o/playground/callback/";
    /// The login page.
    pub const LOGIN: &str = "/accounts/login/";
    /// Logging out of the browser session.
    pub const LOGOUT: &str = "/accounts/logout/";
    /// Liveness: answers `ok` while the process serves.
    pub const HEALTHZ: &str = "/healthz";
    /// What the server is, for a person opening its address (standalone server only).
    pub const HOME: &str = "/";
    /// Readiness: `ready` when the database answers, `503` otherwise.
    pub const READYZ: &str = "/readyz";
    /// Prometheus metrics, in the OpenMetrics text format (see [`crate::metrics`]).
    pub const METRICS: &str = "/metrics";
}

/// Adds `route` at `path` and, for paths that end in `/`, at the path without it:
/// answered directly, not redirected, since a redirected POST loses its body.
pub(crate) fn route_both<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    path: &str,
    route: axum::routing::MethodRouter<S>,
) -> Router<S> {
    match path.strip_suffix('/') {
        Some(bare) if !bare.is_empty() => router.route(path, route.clone()).route(bare, route),
        _ => router.route(path, route),
    }
}

/// The realm named in the API's `WWW-Authenticate` challenges. [`AppState`]'s example
/// reads it in a challenge.
pub const API_REALM: &str = "api";

/// What every handler shares: the store, the settings, the time, the keys and the host's
/// parts. Cheap to clone. [`AppState::new`] makes the standalone server's; a mounted
/// provider's is [`Provider::state`](crate::provider::Provider::state).
///
/// ```
/// use std::sync::Arc;
///
/// use axum::body::{to_bytes, Body};
/// use http::{Request, StatusCode};
/// use portcullis::app::{self, paths, AppState, API_REALM};
/// use portcullis::clock::SystemClock;
/// use portcullis::config::Config;
/// use tower::ServiceExt; // `oneshot`, to call the router without a server
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let state = AppState::new(store, Config::defaults(), Arc::new(SystemClock))?;
/// let router: axum::Router = app::router(state);
///
/// let response = router.clone().oneshot(Request::get(paths::READYZ).body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(to_bytes(response.into_body(), 64).await?, "ready");
/// // The example API, without a token: RFC 6750 §3's challenge, in the API's realm.
/// let response = router.oneshot(Request::get("/api/hello").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], format!("Bearer realm=\"{API_REALM}\""));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AppState {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// The settings.
    pub config: Arc<Config>,
    /// The time, which tests move.
    pub clock: Arc<dyn Clock>,
    /// Checks bearer tokens against the store, for the API and for the host's routes.
    pub verifier: TokenVerifier,
    /// Checks tokens for introspection: past the cache when instances share the
    /// database, so a revocation anywhere is reflected at once.
    pub introspection: TokenVerifier,
    /// The page templates, with any overrides from `pages.templates_dir`.
    pub templates: Arc<Templates>,
    /// The OpenID Connect signing keys.
    pub keys: Arc<KeyRing>,
    /// Who may log in: Portcullis's own users, or a host application's.
    pub accounts: Arc<dyn Accounts>,
    /// A host application's hooks; none for the standalone server.
    pub hooks: Arc<dyn Hooks>,
    /// The path the provider is mounted at in a host application (`/auth`), or empty.
    /// Handlers work with the paths of [`paths`]; links in pages and `Location`
    /// headers get this in front of them on the way out.
    pub base: Arc<str>,
    /// This provider's own metrics, exported at [`paths::METRICS`].
    pub metrics: Metrics,
    /// The per-client rate limits of this instance (`[limits]`).
    pub limits: RateLimits,
    /// Records security events (see [`crate::audit`]).
    pub audit: Audit,
}

impl AppState {
    /// The standalone server's state: its own users, no hooks, mounted at the root.
    /// Fails only when the settings name a templates folder that cannot be read.
    /// [`AppState`]'s example makes one.
    pub fn new(store: Arc<dyn Store>, config: Config, clock: Arc<dyn Clock>) -> Result<Self, TemplateError> {
        let accounts = Arc::new(StoreAccounts::new(store.clone()));
        Self::with_parts(store, config, clock, accounts, Arc::new(NoHooks), "")
    }

    /// The state of a provider with `accounts` and `hooks`, mounted at `base`.
    pub(crate) fn with_parts(
        store: Arc<dyn Store>,
        config: Config,
        clock: Arc<dyn Clock>,
        accounts: Arc<dyn Accounts>,
        hooks: Arc<dyn Hooks>,
        base: &str,
    ) -> Result<Self, TemplateError> {
        let verifier = TokenVerifier::new(Arc::new(StoreVerifier::new(store.clone(), clock.clone())), API_REALM);
        let introspection =
            TokenVerifier::new(Arc::new(StoreVerifier::uncached(store.clone(), clock.clone())), API_REALM);
        let dir = &config.pages.templates_dir;
        let templates = Templates::new((!dir.is_empty()).then(|| dir.into()), base)?;
        // A retired key stays published as long as an ID token it signed may be valid.
        let lifetime = i64::from(config.oauth2.access_token_expire_seconds);
        let keys = Arc::new(
            KeyRing::new(store.clone(), config.key_encryption_key(), lifetime)
                .publish_ahead(config.oidc.key_publish_ahead_seconds),
        );
        Ok(Self {
            audit: Audit::new(store.clone()),
            store,
            clock,
            verifier,
            introspection,
            templates: Arc::new(templates),
            keys,
            accounts,
            hooks,
            base: base.into(),
            metrics: Metrics::new(),
            limits: RateLimits::new(&config.limits),
            config: Arc::new(config),
        })
    }

    pub(crate) fn grant_context(&self) -> oauth::grant::Context<'_> {
        self.grant_context_for(None)
    }

    /// [`AppState::grant_context`] for a request from `client_addr`, which the audit log
    /// names.
    pub(crate) fn grant_context_for(&self, client_addr: Option<std::net::IpAddr>) -> oauth::grant::Context<'_> {
        oauth::grant::Context {
            store: self.store.as_ref(),
            accounts: self.accounts.as_ref(),
            keys: &self.keys,
            hooks: self.hooks.as_ref(),
            config: &self.config,
            rate_limits: &self.limits,
            now: self.clock.now(),
            client_addr,
        }
    }

    /// Where the endpoints record the tokens grants issue and the security events they
    /// report.
    pub(crate) fn records(&self) -> oauth::grant::Records<'_> {
        oauth::grant::Records { metrics: &self.metrics, audit: &self.audit, hooks: self.hooks.as_ref() }
    }
}

impl FromRef<AppState> for TokenVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The whole application, for any state type of a host's router it is merged into.
/// Under a `base` path, every `Location` it answers with gets that path in front. A
/// host mounts it with [`Provider::router`](crate::provider::Provider::router); the
/// standalone server hands it to [`serve`], whose example shows both. [`AppState`]'s
/// example sends it requests.
pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    build(state, false)
}

/// The standalone server's application: [`router`], and the home page at `/`, which a
/// host that mounts the provider keeps for its own.
pub(crate) fn standalone_router(state: AppState) -> Router {
    build(state, true)
}

fn build<S: Clone + Send + Sync + 'static>(state: AppState, home: bool) -> Router<S> {
    let base = state.base.clone();
    let metrics = state.metrics.clone();
    let proxies = state.config.server.trusted_proxies.clone();
    let scrape = get(crate::metrics::scrape).with_state(state.clone());
    let limits = state.config.limits.clone();
    let cors = oauth::cors::Cors::new(state.store.clone(), &state.config.oauth2.allowed_origins);
    let router = Router::new()
        .merge(oauth::endpoints::router(&cors))
        .merge(resource::router())
        .merge(crate::oidc::router(state.config.oidc.enabled, &cors))
        .merge(pages::router())
        .route(paths::HEALTHZ, get(|| async { "ok" }))
        .route(paths::READYZ, get(ready));
    let router = if home { router.route(paths::HOME, get(pages::home::page)) } else { router };
    let router = router
        // No request to this server needs a large body; refuse big ones before reading.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .layer(
            // Log method and path only: query strings can carry codes and tokens. At
            // DEBUG: the log formatter renders a span's fields when it opens, which at
            // INFO cost a twentieth of an introspection's CPU time (issue 4's profile),
            // for context that only the rare error logged inside a handler would use.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        ;
    // Inside the metrics layer, so requests shed or timed out are counted.
    let router = crate::limits::guard(router, &limits)
        // Outermost, so the time is all the server spends on a request. A layer added
        // with `Router::layer` runs after routing: the matched route is known.
        .layer(metrics.layer())
        // Added after the layers, so scrapes are not counted among the requests.
        .route(paths::METRICS, scrape)
        // Last, so that every answer has the security headers, scrapes and the
        // fallback's 404s included, and every handler the same idea of the client.
        .layer(EdgeLayer::new(proxies));
    if base.is_empty() {
        router
    } else {
        router.layer(axum::middleware::map_response(move |response| prefix_location(response, base.clone())))
    }
}

/// Puts `base` in front of a `Location` that is a path on this server (`/…`, not
/// `//host/…`): handlers redirect within the provider's own paths.
async fn prefix_location(mut response: axum::response::Response, base: Arc<str>) -> axum::response::Response {
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
    if let Some(path) = location.filter(|l| l.starts_with('/') && !l.starts_with("//")) {
        if let Ok(value) = http::HeaderValue::from_str(&format!("{base}{path}")) {
            response.headers_mut().insert(http::header::LOCATION, value);
        }
    }
    response
}

/// `GET /readyz`: ready when the database answers.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves `router` on `listener` over plain HTTP until `shutdown` completes, then lets
/// requests in flight finish (for at most 30 seconds). What `portcullis serve` does,
/// which also reads TLS and limits from `[server]` with
/// [`server::serve_with`](crate::server::serve_with):
///
/// ```no_run
/// use std::sync::Arc;
///
/// use portcullis::app::{self, AppState};
/// use portcullis::clock::{Clock, SystemClock};
/// use portcullis::config::Config;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::load(None, std::env::vars())?;
/// let store = portcullis::store::connect("sqlite://portcullis.db").await?;
/// store.migrate().await?;
/// let state = AppState::new(store.clone(), config, Arc::new(SystemClock))?;
/// // The first start makes the OpenID Connect signing keys.
/// state.keys.ensure(SystemClock.now()).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// app::serve(listener, app::router(state), app::shutdown_signal()).await?;
/// store.close().await;
/// # Ok(())
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve_with(listener, router, shutdown, crate::server::ServeOptions::default()).await
}

/// Completes on SIGINT or SIGTERM. [`serve`]'s example stops on it; a host may stop on
/// something of its own as well:
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis::app::{self, AppState};
/// use portcullis::clock::SystemClock;
/// use portcullis::config::Config;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let state = AppState::new(store, Config::defaults(), Arc::new(SystemClock))?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///
/// // Stop on a signal, or when the host says so.
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let shutdown = async move {
///     tokio::select! {
///         () = app::shutdown_signal() => {}
///         _ = stopped => {}
///     }
/// };
/// let server = tokio::spawn(app::serve(listener, app::router(state), shutdown));
/// let _ = stop.send(());
/// server.await??; // stopped cleanly
/// # Ok(())
/// # }
/// ```
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
