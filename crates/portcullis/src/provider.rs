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
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::hooks::{Hooks, NoHooks};
use crate::http::AppState;
use crate::oidc::keys::KeyError;
use crate::pages::templates::TemplateError;
use crate::store::{AuditKind, NewAuditEvent, Store, StoreError};

/// A provider ready to mount. Cheap to clone.
///
/// Here a host mounts the provider at `/auth`, a client gets a token at the mounted
/// token endpoint, and the host's own route takes it:
///
/// ```
/// use axum::body::{to_bytes, Body};
/// use axum::{routing::get, Router};
/// use base64::Engine as _;
/// use http::{Request, StatusCode};
/// use portcullis::config::Config;
/// use portcullis::crypto::{random_alphanumeric, Secret};
/// use portcullis::provider::Provider;
/// use portcullis::proto::GrantType;
/// use portcullis::store::ApplicationSettings;
/// use portcullis_axum::{require_scopes, Scoped};
/// use tower::ServiceExt; // `oneshot`, to call the router without a server
///
/// require_scopes!(Read = ["read"]);
///
/// async fn orders(Scoped(token, ..): Scoped<Read>) -> String {
///     format!("orders for {}", token.client_id)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let mut config = Config::defaults();
/// config.oidc.issuer = "https://shop.example/auth/o".into();
/// config.oidc.enabled = false; // no signing keys to make for this example
/// let store = portcullis::store::connect(&url).await?;
/// let provider = Provider::builder(config, store).prefix("/auth").build().await?;
/// let app: Router = Router::new()
///     .route("/orders", get(orders))
///     .with_state(provider.verifier())
///     .merge(provider.router());
///
/// // A back-office client, registered in the provider's store.
/// let secret = Secret::generate();
/// let settings = ApplicationSettings {
///     name: "Back office".into(),
///     grant_types: vec![GrantType::ClientCredentials],
///     ..ApplicationSettings::default()
/// };
/// let client = provider
///     .state()
///     .store
///     .create_application(&random_alphanumeric(32), Some(&secret.hash()), None, &settings, 1_700_000_000)
///     .await?;
///
/// // RFC 6749 §4.4: the client credentials grant, at the mounted token endpoint.
/// let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.client_id, secret.expose()));
/// let request = Request::post("/auth/o/token/")
///     .header("authorization", format!("Basic {basic}"))
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(Body::from("grant_type=client_credentials&scope=read"))?;
/// let response = app.clone().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// let answer: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), 4096).await?)?;
/// let token = answer["access_token"].as_str().unwrap_or_default();
///
/// let request = Request::get("/orders").header("authorization", format!("Bearer {token}")).body(Body::empty())?;
/// let response = app.clone().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(to_bytes(response.into_body(), 4096).await?, format!("orders for {}", client.client_id));
///
/// // And nothing is left of the provider at the root.
/// let response = app.oneshot(Request::post("/o/token/").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Provider {
    state: AppState,
}

/// Collects what a [`Provider`] is made of; see [`Provider::builder`].
///
/// Here with the host's own users and a clock the example moves:
///
/// ```
/// use std::sync::Arc;
///
/// use async_trait::async_trait;
/// use http::StatusCode;
/// use portcullis::accounts::{Account, Accounts};
/// use portcullis::clock::ManualClock;
/// use portcullis::config::Config;
/// use portcullis::provider::Provider;
/// use portcullis::proto::GrantType;
/// use portcullis::store::StoreError;
///
/// /// The host's users: one, here.
/// struct Staff;
///
/// #[async_trait]
/// impl Accounts for Staff {
///     async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
///         Ok((username == "ada" && password == "correct horse battery").then(|| Account::new(7, "ada")))
///     }
///
///     async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
///         Ok((id == 7).then(|| Account::new(7, "ada")))
///     }
/// }
///
/// # async fn token_request(
/// #     app: &axum::Router,
/// #     client: &(String, portcullis::crypto::Secret),
/// #     form: &str,
/// # ) -> Result<(http::StatusCode, serde_json::Value), Box<dyn std::error::Error>> {
/// #     use base64::Engine as _;
/// #     use tower::ServiceExt as _;
/// #     let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.0, client.1.expose()));
/// #     let request = http::Request::post("/o/token/")
/// #         .header("authorization", format!("Basic {basic}"))
/// #         .header("content-type", "application/x-www-form-urlencoded")
/// #         .body(axum::body::Body::from(form.to_owned()))?;
/// #     let response = app.clone().oneshot(request).await?;
/// #     let status = response.status();
/// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
/// #     Ok((status, serde_json::from_slice(&body)?))
/// # }
/// # async fn register(
/// #     store: &dyn portcullis::store::Store,
/// #     name: &str,
/// #     grant: portcullis::proto::GrantType,
/// # ) -> Result<(String, portcullis::crypto::Secret), Box<dyn std::error::Error>> {
/// #     use portcullis::store::ApplicationSettings;
/// #     let secret = portcullis::crypto::Secret::generate();
/// #     let settings = ApplicationSettings {
/// #         name: name.into(),
/// #         grant_types: vec![grant],
/// #         ..ApplicationSettings::default()
/// #     };
/// #     let client_id = portcullis::crypto::random_alphanumeric(32);
/// #     let hash = secret.hash();
/// #     store.create_application(&client_id, Some(&hash), None, &settings, 1_700_000_000).await?;
/// #     Ok((client_id, secret))
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let mut config = Config::defaults();
/// config.oidc.enabled = false; // no signing keys to make for this example
/// let clock = Arc::new(ManualClock::new(1_700_000_000));
/// let store = portcullis::store::connect(&url).await?;
/// let provider = Provider::builder(config, store.clone())
///     .accounts(Arc::new(Staff))
///     .clock(clock.clone())
///     .build()
///     .await?;
///
/// // `register` and `token_request` (hidden) register a confidential client and ask
/// // the token endpoint, authenticating with HTTP Basic.
/// let client = register(store.as_ref(), "Reports", GrantType::Password).await?;
/// let form = "grant_type=password&username=ada&password=correct+horse+battery&scope=read";
/// let (status, answer) = token_request(&provider.router(), &client, form).await?;
/// assert_eq!(status, StatusCode::OK);
/// let token = answer["access_token"].as_str().unwrap_or_default();
///
/// // The token names the host's user by the host's id.
/// let info = provider.verifier().verify(token).await?;
/// assert_eq!(info.and_then(|t| t.user_id), Some("7".to_owned()));
/// // Ten hours later (`access_token_expire_seconds`), it has expired.
/// clock.advance(36_000);
/// assert_eq!(provider.verifier().verify(token).await?, None);
/// # Ok(())
/// # }
/// ```
pub struct ProviderBuilder {
    config: Config,
    store: Arc<dyn Store>,
    accounts: Option<Arc<dyn Accounts>>,
    hooks: Arc<dyn Hooks>,
    clock: Arc<dyn Clock>,
    prefix: String,
}

/// Why a provider could not be built.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::provider::{BuildError, Provider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// let mut config = Config::defaults();
/// config.oidc.issuer = "https://shop.example/o".into();
/// // Mounted at /auth, the issuer must end in /auth/o: discovery names endpoints below it.
/// let built = Provider::builder(config.clone(), store.clone()).prefix("/auth").build().await;
/// assert!(matches!(built, Err(BuildError::Issuer { .. })));
/// let built = Provider::builder(config, store).prefix("/auth/").build().await;
/// assert!(matches!(built, Err(BuildError::Prefix(_))));
/// # Ok(())
/// # }
/// ```
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
    /// router whatever the host's state type; and, at the host's root, the metadata of
    /// the example API (RFC 9728 §3.1 puts it between the host and the API's path:
    /// `/.well-known/oauth-protected-resource/auth/api` for the API at `/auth/api`).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let routes = crate::http::router(self.state.clone());
        if self.state.base.is_empty() {
            return routes;
        }
        let routes = Router::new().nest(&self.state.base, routes);
        match crate::resource::api_resource(&self.state.config) {
            Ok(api) => routes.merge(api.router()),
            Err(_) => routes,
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

    /// Tells the provider that user `id` may no longer act: the host closed or
    /// deactivated their account. The provider's copy of the user is marked inactive,
    /// their browser sessions end, and their tokens stop at once, as a revocation
    /// stops them: access tokens at [`Provider::verifier`], introspection, UserInfo and
    /// `/api/me/`; refresh tokens and codes at the token endpoint. Other instances on
    /// the same database follow within the store cache's bound
    /// ([`MAX_AGE`](crate::store::front::MAX_AGE); at once on PostgreSQL, which notifies
    /// them).
    ///
    /// Call it when the account closes, and have [`Accounts::user`] answer `None` for
    /// the user from then on: tokens are checked without asking the host (that would
    /// put the host's lookup on every request), so this call is what stops the user's
    /// access tokens before the provider next asks about them (a page of their session,
    /// a refresh, UserInfo), when the host's `None` stops them too. When the host
    /// vouches for the user again (a login), the copy is active again. Returns whether
    /// the provider knew the user (only users who have logged in through it are
    /// copied). Also for Portcullis's own users: the same as the admin pages'
    /// **Deactivate**.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex, PoisonError};
    ///
    /// use async_trait::async_trait;
    /// use portcullis::accounts::{Account, Accounts};
    /// use portcullis::config::Config;
    /// use portcullis::provider::Provider;
    /// use portcullis::proto::GrantType;
    /// use portcullis::store::StoreError;
    ///
    /// /// The host's open accounts.
    /// struct Customers(Mutex<Vec<Account>>);
    ///
    /// impl Customers {
    ///     fn find(&self, found: impl Fn(&Account) -> bool) -> Option<Account> {
    ///         self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|a| found(a)).cloned()
    ///     }
    /// }
    ///
    /// #[async_trait]
    /// impl Accounts for Customers {
    ///     async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
    ///         // A real host checks a password hash, in constant time.
    ///         Ok(self.find(|a| a.username == username).filter(|_| password == "correct horse battery"))
    ///     }
    ///
    ///     async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
    ///         Ok(self.find(|a| a.id == id))
    ///     }
    /// }
    ///
    /// # async fn token_request(
    /// #     app: &axum::Router,
    /// #     client: &(String, portcullis::crypto::Secret),
    /// #     form: &str,
    /// # ) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    /// #     use base64::Engine as _;
    /// #     use tower::ServiceExt as _;
    /// #     let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.0, client.1.expose()));
    /// #     let request = http::Request::post("/o/token/")
    /// #         .header("authorization", format!("Basic {basic}"))
    /// #         .header("content-type", "application/x-www-form-urlencoded")
    /// #         .body(axum::body::Body::from(form.to_owned()))?;
    /// #     let response = app.clone().oneshot(request).await?;
    /// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
    /// #     Ok(serde_json::from_slice(&body)?)
    /// # }
    /// # async fn register(
    /// #     store: &dyn portcullis::store::Store,
    /// # ) -> Result<(String, portcullis::crypto::Secret), Box<dyn std::error::Error>> {
    /// #     use portcullis::store::ApplicationSettings;
    /// #     let secret = portcullis::crypto::Secret::generate();
    /// #     let settings = ApplicationSettings {
    /// #         name: "Mobile app".into(),
    /// #         grant_types: vec![GrantType::Password],
    /// #         ..ApplicationSettings::default()
    /// #     };
    /// #     let client_id = portcullis::crypto::random_alphanumeric(32);
    /// #     let hash = secret.hash();
    /// #     store.create_application(&client_id, Some(&hash), None, &settings, 1_700_000_000).await?;
    /// #     Ok((client_id, secret))
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    /// let customers = Arc::new(Customers(Mutex::new(vec![Account::new(7, "ada")])));
    /// let mut config = Config::defaults();
    /// config.oidc.enabled = false; // no signing keys to make for this example
    /// let store = portcullis::store::connect(&url).await?;
    /// let provider = Provider::builder(config, store.clone()).accounts(customers.clone()).build().await?;
    ///
    /// // Ada gets a token (`register` and `token_request`, hidden, as in
    /// // `ProviderBuilder`'s example).
    /// let client = register(store.as_ref()).await?;
    /// let form = "grant_type=password&username=ada&password=correct+horse+battery&scope=read";
    /// let answer = token_request(&provider.router(), &client, form).await?;
    /// let token = answer["access_token"].as_str().unwrap_or_default();
    /// assert!(provider.verifier().verify(token).await?.is_some());
    ///
    /// // The host closes her account, and says so: her token stops now, not in ten
    /// // hours when it expires.
    /// customers.0.lock().unwrap_or_else(PoisonError::into_inner).retain(|a| a.id != 7);
    /// assert!(provider.deactivate_user(7).await?);
    /// assert_eq!(provider.verifier().verify(token).await?, None);
    /// // A user the provider never saw: nothing to do.
    /// assert!(!provider.deactivate_user(8).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn deactivate_user(&self, id: i64) -> Result<bool, StoreError> {
        // The store drops its cache of tokens and users once this commits, as after a
        // revocation; every token check reads the user's activity with the token.
        let known = self.state.store.set_user_active(id, false).await?;
        if known {
            tracing::info!(user_id = id, "the host deactivated the user");
            let event = NewAuditEvent::new(AuditKind::UserChanged, self.state.clock.now())
                .user(id)
                .detail(format!("the host deactivated user {id}"));
            self.state.audit.record(event).await;
        }
        Ok(known)
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
