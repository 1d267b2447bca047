//! Portcullis inside another axum application, as django-oauth-toolkit lives inside a
//! Django project: the host mounts the provider's routes under a path of its choosing,
//! may bring its own users ([`Accounts`](crate::accounts::Accounts)) and hooks
//! ([`Hooks`](crate::hooks::Hooks)), and guards its own routes with the tokens the
//! provider issues.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use portcullis::config::Config;
//! use portcullis::provider::Provider;
//! use portcullis_axum::{require_scopes, Scoped, TokenVerifier};
//!
//! require_scopes!(Read = ["read"]);
//!
//! async fn orders(Scoped(token, ..): Scoped<Read>) -> String {
//!     format!("orders of user {}", token.user_id.unwrap_or_default())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::defaults();
//! // The issuer names where the provider is mounted: `{origin}{prefix}/o`.
//! config.oidc.issuer = "https://shop.example/auth/o".into();
//! let store = portcullis::store::connect("sqlite://shop-auth.db").await?;
//! let provider = Provider::builder(config, store).prefix("/auth").build().await?;
//!
//! let app: Router = Router::new()
//!     .route("/orders", get(orders))
//!     .with_state(provider.verifier())
//!     .merge(provider.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use axum::Router;
use portcullis_axum::TokenVerifier;

use crate::accounts::{Accounts, LinkedAccounts, StoreAccounts};
use crate::app::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::hooks::{Hooks, NoHooks};
use crate::oidc::keys::KeyError;
use crate::pages::templates::TemplateError;
use crate::store::{Store, StoreError};

/// A provider ready to mount. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    state: AppState,
}

/// Collects what a [`Provider`] is made of; see [`Provider::builder`].
pub struct ProviderBuilder {
    config: Config,
    store: Arc<dyn Store>,
    accounts: Option<Arc<dyn Accounts>>,
    hooks: Arc<dyn Hooks>,
    clock: Arc<dyn Clock>,
    prefix: String,
}

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The prefix is not a path such as `/auth`.
    #[error("prefix {0:?} must be empty or a path such as \"/auth\": a leading /, no trailing /, and only letters, digits and - _ . / ~")]
    Prefix(String),
    #[error(
        "oidc.issuer {issuer:?} must be the origin followed by {expected:?}, for a provider mounted at {prefix:?}: \
         discovery, the device page and every signed token name endpoints below it"
    )]
    /// `oidc.issuer`'s path is not the prefix followed by `/o`.
    Issuer {
        /// The issuer the settings give.
        issuer: String,
        /// The path it must have.
        expected: String,
        /// The prefix the provider is mounted at.
        prefix: String,
    },
    /// `pages.templates_dir` names a folder that cannot be read.
    #[error(transparent)]
    Templates(#[from] TemplateError),
    /// The store failed, or the schema could not be brought up to date.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing keys could not be made or read.
    #[error("the OpenID Connect signing keys: {0}")]
    Keys(#[from] KeyError),
}

impl Provider {
    /// A provider with `config`, keeping its data in `store` (from
    /// [`crate::store::connect`]). Defaults: Portcullis's own users, no hooks, the system
    /// clock, mounted at the root.
    pub fn builder(config: Config, store: Arc<dyn Store>) -> ProviderBuilder {
        ProviderBuilder {
            config,
            store,
            accounts: None,
            hooks: Arc::new(NoHooks),
            clock: Arc::new(SystemClock),
            prefix: String::new(),
        }
    }

    /// Every route of the provider, under its prefix, ready to merge into the host's
    /// router whatever the host's state type.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let routes = app::router(self.state.clone());
        if self.state.base.is_empty() {
            routes
        } else {
            Router::new().nest(&self.state.base, routes)
        }
    }

    /// Checks bearer tokens against the provider's store, for the host's own routes: put
    /// it in the host's state (or reach it with `FromRef`) and use the extractors of
    /// `portcullis-axum`. Revocation takes effect at once.
    pub fn verifier(&self) -> TokenVerifier {
        self.state.verifier.clone()
    }

    /// The provider's state, for handlers a host adds beside the provider's own.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

impl ProviderBuilder {
    /// Mounts the provider at `prefix` (such as `/auth`) rather than at the root. Set
    /// `oidc.issuer` to match: `{origin}{prefix}/o`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Logs users in against the host's accounts instead of Portcullis's own table.
    pub fn accounts(mut self, accounts: Arc<dyn Accounts>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// The host's [`Hooks`].
    pub fn hooks(mut self, hooks: Arc<dyn Hooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The time, for tests that move it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the prefix against the issuer, brings the schema up to date and, with
    /// OpenID Connect on, makes the signing keys on the first start.
    pub async fn build(self) -> Result<Provider, BuildError> {
        let prefix = self.prefix;
        let well_formed = prefix.is_empty()
            || (prefix.starts_with('/')
                && !prefix.ends_with('/')
                && !prefix.contains("//")
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./~".contains(&b)));
        if !well_formed {
            return Err(BuildError::Prefix(prefix));
        }
        let issuer = self.config.oidc.issuer.as_str();
        let expected = format!("{prefix}/o");
        if url::Url::parse(issuer).map(|u| u.path() != expected).unwrap_or(true) {
            return Err(BuildError::Issuer { issuer: issuer.to_owned(), expected, prefix });
        }
        self.store.migrate().await?;
        let accounts: Arc<dyn Accounts> = match self.accounts {
            Some(host) => Arc::new(LinkedAccounts::new(host, self.store.clone())),
            None => Arc::new(StoreAccounts::new(self.store.clone())),
        };
        let openid = self.config.oidc.enabled;
        let now = self.clock.now();
        let state = AppState::with_parts(self.store, self.config, self.clock, accounts, self.hooks, &prefix)?;
        if openid {
            state.keys.ensure(now).await?;
        }
        Ok(Provider { state })
    }
}
