//! What every handler shares ([`AppState`]), and the substates extractors take from it.

use std::sync::Arc;

use axum::extract::FromRef;
use portcullis_axum::TokenVerifier;

use crate::accounts::{Accounts, StoreAccounts};
use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::hooks::{Hooks, NoHooks};
use crate::http::limits::RateLimits;
use crate::http::metrics::Metrics;
use crate::oauth;
use crate::oidc::keys::KeyRing;
use crate::pages::{templates::TemplateError, Templates};
use crate::resource::StoreVerifier;
use crate::store::Store;

/// The realm named in the API's `WWW-Authenticate` challenges.
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
/// use portcullis::http::{router, AppState, API_REALM};
/// use portcullis::paths;
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
/// let router: axum::Router = router(state);
///
/// let response = router.clone().oneshot(Request::get(paths::READYZ).body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(to_bytes(response.into_body(), 64).await?, "ready");
/// // The example API, without a token: RFC 6750 §3's challenge, in the API's realm,
/// // naming the API's metadata (RFC 9728 §5.1) below the default issuer's origin.
/// let response = router.oneshot(Request::get("/api/hello").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// let metadata = "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api";
/// let challenge = format!("Bearer realm=\"{API_REALM}\", resource_metadata=\"{metadata}\"");
/// assert_eq!(response.headers()["www-authenticate"], challenge.as_str());
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
    /// Handlers work with the paths of [`paths`](crate::paths); links in pages and `Location`
    /// headers get this in front of them on the way out.
    pub base: Arc<str>,
    /// This provider's own metrics, exported at [`paths::METRICS`](crate::paths::METRICS).
    pub metrics: Metrics,
    /// The per-client rate limits of this instance (`[limits]`).
    pub limits: RateLimits,
    /// Records security events (see [`crate::audit`]).
    pub audit: Audit,
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
