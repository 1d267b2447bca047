//! The axum application: state shared by every handler, the route table, and serving.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use portcullis_axum::TokenVerifier;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::accounts::{Accounts, StoreAccounts};
use crate::clock::Clock;
use crate::config::Config;
use crate::hooks::{Hooks, NoHooks};
use crate::oauth;
use crate::oidc::keys::KeyRing;
use crate::pages::{self, templates::TemplateError, Templates};
use crate::resource::{self, StoreVerifier};
use crate::store::Store;

/// Every path the server answers. The router, and later discovery metadata, read them
/// from here. Each also answers without its trailing slash.
pub mod paths {
    pub const AUTHORIZE: &str = "/o/authorize/";
    pub const TOKEN: &str = "/o/token/";
    pub const REVOKE: &str = "/o/revoke_token/";
    pub const INTROSPECT: &str = "/o/introspect/";
    /// RFC 8628 §3.1: where devices ask for a device code.
    pub const DEVICE_AUTHORIZATION: &str = "/o/device-authorization/";
    /// RFC 8628 §3.3: where the user types the user code (`verification_uri`).
    pub const DEVICE: &str = "/o/device/";
    // --- OpenID Connect and RFC 8414 metadata ---
    pub const USERINFO: &str = "/o/userinfo/";
    /// OpenID Connect RP-Initiated Logout 1.0's end-session endpoint.
    pub const END_SESSION: &str = "/o/logout/";
    pub const JWKS: &str = "/o/.well-known/jwks.json";
    /// OpenID Connect Discovery §4: the issuer (`…/o`) followed by this suffix.
    pub const OPENID_CONFIGURATION: &str = "/o/.well-known/openid-configuration";
    /// The same document at the root, where some clients look for it.
    pub const OPENID_CONFIGURATION_ROOT: &str = "/.well-known/openid-configuration";
    /// RFC 8414 §3: the well-known suffix goes between the host and the issuer's path,
    /// so the issuer `…/o` is described at `/.well-known/oauth-authorization-server/o`.
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server/o";
    pub const OAUTH_METADATA_ROOT: &str = "/.well-known/oauth-authorization-server";
    pub const API_HELLO: &str = "/api/hello/";
    pub const API_ME: &str = "/api/me/";
    pub const API_GROUPS: &str = "/api/groups/";
    // --- Application management and authorized-token pages ---
    pub const APPLICATIONS: &str = "/o/applications/";
    pub const APPLICATION_REGISTER: &str = "/o/applications/register/";
    pub const APPLICATION_DETAIL: &str = "/o/applications/{id}/";
    pub const APPLICATION_UPDATE: &str = "/o/applications/{id}/update/";
    pub const APPLICATION_DELETE: &str = "/o/applications/{id}/delete/";
    pub const APPLICATION_SECRET: &str = "/o/applications/{id}/secret/";
    pub const AUTHORIZED_TOKENS: &str = "/o/authorized_tokens/";
    pub const AUTHORIZED_TOKEN_DELETE: &str = "/o/authorized_tokens/{id}/delete/";
    // --- Admin pages ---
    pub const ADMIN: &str = "/admin/";
    pub const ADMIN_USERS: &str = "/admin/users/";
    pub const ADMIN_USER_NEW: &str = "/admin/users/new/";
    pub const ADMIN_USER: &str = "/admin/users/{id}/";
    pub const ADMIN_USER_ACTIVE: &str = "/admin/users/{id}/active/";
    pub const ADMIN_USER_PASSWORD: &str = "/admin/users/{id}/password/";
    pub const ADMIN_USER_GROUPS: &str = "/admin/users/{id}/groups/";
    pub const ADMIN_APPLICATIONS: &str = "/admin/applications/";
    pub const ADMIN_APPLICATION: &str = "/admin/applications/{id}/";
    pub const ADMIN_APPLICATION_DELETE: &str = "/admin/applications/{id}/delete/";
    pub const ADMIN_TOKENS: &str = "/admin/tokens/";
    pub const ADMIN_TOKEN_REVOKE: &str = "/admin/tokens/{id}/revoke/";
    // --- Playground ---
    pub const PLAYGROUND: &str = "/o/playground/";
    pub const PLAYGROUND_CALLBACK: &str = "/o/playground/callback/";
    pub const LOGIN: &str = "/accounts/login/";
    pub const LOGOUT: &str = "/accounts/logout/";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
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

/// The realm named in the API's `WWW-Authenticate` challenges.
pub const API_REALM: &str = "api";

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub verifier: TokenVerifier,
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
}

impl AppState {
    /// The standalone server's state: its own users, no hooks, mounted at the root.
    /// Fails only when the settings name a templates folder that cannot be read.
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
        let dir = &config.pages.templates_dir;
        let templates = Templates::new((!dir.is_empty()).then(|| dir.into()), base)?;
        // A retired key stays published as long as an ID token it signed may be valid.
        let lifetime = i64::from(config.oauth2.access_token_expire_seconds);
        let keys = Arc::new(KeyRing::new(store.clone(), config.key_encryption_key(), lifetime));
        Ok(Self {
            store,
            config: Arc::new(config),
            clock,
            verifier,
            templates: Arc::new(templates),
            keys,
            accounts,
            hooks,
            base: base.into(),
        })
    }

    pub fn grant_context(&self) -> oauth::grant::Context<'_> {
        oauth::grant::Context {
            store: self.store.as_ref(),
            settings: &self.config.oauth2,
            now: self.clock.now(),
            keys: &self.keys,
            issuer: &self.config.oidc.issuer,
            openid: self.config.oidc.enabled,
            accounts: self.accounts.as_ref(),
            hooks: self.hooks.as_ref(),
        }
    }
}

impl FromRef<AppState> for TokenVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The whole application, for any state type of a host's router it is merged into.
/// Under a `base` path, every `Location` it answers with gets that path in front.
pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    let base = state.base.clone();
    let router = Router::new()
        .merge(oauth::endpoints::router(&state.config.oauth2.allowed_origins))
        .merge(resource::router())
        .merge(crate::oidc::router(state.config.oidc.enabled))
        .merge(pages::router())
        .route(paths::HEALTHZ, get(|| async { "ok" }))
        .route(paths::READYZ, get(ready))
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
        );
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

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in
/// flight finish (for at most 30 seconds).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        let _ = drained_tx.send(());
    };
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(graceful);
    let server = tokio::spawn(async move { server.await });
    // Once shutdown starts, give connections a bounded time to finish.
    let limit = async {
        let _ = drained_rx.await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    };
    tokio::select! {
        result = server => result.map_err(std::io::Error::other)?,
        () = limit => {
            tracing::warn!("requests still in flight after 30 s; stopping anyway");
            Ok(())
        }
    }
}

/// Completes on SIGINT or SIGTERM.
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
