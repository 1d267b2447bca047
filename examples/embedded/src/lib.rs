//! A shop, written with axum, that embeds Portcullis the way a Django project adds
//! django-oauth-toolkit to its `INSTALLED_APPS`:
//!
//! 1. **Mount the provider** under `/auth` with [`Provider::builder`]: its token
//!    endpoint, login and consent pages, discovery and the rest answer at
//!    `/auth/o/token/`, `/auth/accounts/login/`, … and the issuer is
//!    `{origin}/auth/o`.
//! 2. **Bring the shop's own users** ([`ShopUsers`], an [`Accounts`]): people log in to
//!    the provider with their shop account, and tokens name them by their shop id. The
//!    provider keeps no second set of passwords. Closing an account
//!    ([`Shop::close_account`]) tells the provider, which stops its tokens at once.
//! 3. **Hook into its decisions** ([`ShopHooks`], [`Hooks`]): a `customer_since` claim
//!    in ID tokens, only the shop's own front end may get the `write` scope, and an
//!    event for every token issued.
//! 4. **Protect the shop's own routes** with `portcullis-axum`'s extractors, checked
//!    against the provider's store ([`Provider::verifier`]), from the shop's own state
//!    type.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis::config::Config;
//! use portcullis_example_embedded::{shop, ShopUsers};
//!
//! let mut config = Config::defaults();
//! config.oidc.issuer = "http://127.0.0.1:8080/auth/o".into();
//! let store = portcullis::store::connect("sqlite://shop.db?mode=rwc").await?;
//! let mut users = ShopUsers::default();
//! users.add(1001, "ada", "correct horse battery")?;
//! let shop = shop(config, store, users).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, shop.router).await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use portcullis::accounts::{Account, Accounts};
use portcullis::config::Config;
use portcullis::hooks::{ClaimsFor, ClaimsTarget, Hooks, TokenIssued};
use portcullis::provider::{BuildError, Provider};
use portcullis::store::{Application, Store, StoreError};
use portcullis_axum::{require_scopes, ScopeSet, Scoped, TokenVerifier};
use serde_json::{json, Map, Value};

/// Where the provider is mounted.
pub const AUTH_PREFIX: &str = "/auth";

/// The application allowed the `write` scope.
pub const FRONT_END: &str = "Shop front";

/// The shop's users: here a table in memory, in a real shop its own database. Passwords
/// are kept as Argon2id hashes.
#[derive(Default)]
pub struct ShopUsers {
    by_name: HashMap<String, (Account, String)>,
}

impl ShopUsers {
    /// Adds a customer with shop id `id`.
    pub fn add(&mut self, id: i64, username: &str, password: &str) -> Result<(), portcullis::password::PasswordError> {
        let mut account = Account::new(id, username);
        account.email = format!("{username}@shop.example");
        account.first_name = username.to_uppercase();
        let hash = portcullis::password::hash(password)?;
        self.by_name.insert(username.to_owned(), (account, hash));
        Ok(())
    }

    /// Removes an account from the table; its id, if it had one. The provider learns of
    /// it the next time it asks ([`Accounts::user`] answers `None`): its sessions end
    /// and its tokens can no longer be refreshed, and from then on its access tokens
    /// are refused too. [`Shop::close_account`] also tells the provider at once.
    pub fn close(&mut self, username: &str) -> Option<i64> {
        self.by_name.remove(username).map(|(account, _)| account.id)
    }
}

/// The shop's users behind a lock, so that accounts can be closed while it runs.
pub struct SharedUsers(pub Mutex<ShopUsers>);

#[async_trait]
impl Accounts for SharedUsers {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        let found = self.0.lock().unwrap_or_else(PoisonError::into_inner).by_name.get(username).cloned();
        let (account, hash) = match found {
            Some((account, hash)) => (Some(account), Some(hash)),
            None => (None, None),
        };
        // Unknown users cost the same work as known ones: `verify` hashes anyway.
        let ok = portcullis::password::verify_async(password.to_owned(), hash)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(account.filter(|_| ok))
    }

    async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let users = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(users.by_name.values().find(|(account, _)| account.id == id).map(|(account, _)| account.clone()))
    }
}

/// The shop's hooks; it keeps the events it saw, for the shop's own records.
#[derive(Default)]
pub struct ShopHooks {
    pub issued: Mutex<Vec<TokenIssued>>,
}

#[async_trait]
impl Hooks for ShopHooks {
    async fn extra_claims(&self, request: ClaimsFor<'_>) -> Result<Map<String, Value>, StoreError> {
        let mut claims = Map::new();
        if request.target == ClaimsTarget::IdToken && request.scope.contains("profile") {
            claims.insert("customer_since".into(), json!(2019));
        }
        Ok(claims)
    }

    fn allows_scope(&self, app: &Application, scope: &ScopeSet) -> bool {
        !scope.contains("write") || app.settings.name == FRONT_END
    }

    async fn token_issued(&self, event: &TokenIssued) {
        tracing::info!(client_id = %event.client_id, grant = %event.grant, "token issued");
        self.issued.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
    }
}

/// The shop's own state: whatever a host has, with the token verifier reachable
/// through `FromRef`, which is all the extractors need.
#[derive(Clone, FromRef)]
struct ShopState {
    verifier: TokenVerifier,
    name: Arc<str>,
}

require_scopes!(Read = ["read"]);

/// `GET /`: open to everyone.
async fn home(State(name): State<Arc<str>>) -> String {
    format!("Welcome to {name}. Sign in at {AUTH_PREFIX}/accounts/login/")
}

/// `GET /orders`: a token with scope `read`, acting for a customer.
async fn orders(Scoped(token, ..): Scoped<Read>) -> Json<Value> {
    Json(json!({ "customer": token.user_id, "client": token.client_id, "orders": [] }))
}

/// The running shop: its router (the shop's routes and the provider's), the provider,
/// the users and the hooks.
pub struct Shop {
    pub router: Router,
    pub provider: Provider,
    pub users: Arc<SharedUsers>,
    pub hooks: Arc<ShopHooks>,
}

impl Shop {
    /// Closes a customer's account and tells the provider
    /// ([`Provider::deactivate_user`]): the customer's sessions end and every token of
    /// theirs stops at once, access tokens included, rather than when they expire.
    pub async fn close_account(&self, username: &str) -> Result<(), StoreError> {
        let closed = self.users.0.lock().unwrap_or_else(PoisonError::into_inner).close(username);
        if let Some(id) = closed {
            self.provider.deactivate_user(id).await?;
        }
        Ok(())
    }
}

/// Builds the shop on `store` (migrated here), with the provider at [`AUTH_PREFIX`].
pub async fn shop(config: Config, store: Arc<dyn Store>, users: ShopUsers) -> Result<Shop, BuildError> {
    let users = Arc::new(SharedUsers(Mutex::new(users)));
    let hooks = Arc::new(ShopHooks::default());
    let provider = Provider::builder(config, store)
        .prefix(AUTH_PREFIX)
        .accounts(users.clone())
        .hooks(hooks.clone())
        .build()
        .await?;
    let state = ShopState { verifier: provider.verifier(), name: "the shop".into() };
    let router =
        Router::new().route("/", get(home)).route("/orders", get(orders)).with_state(state).merge(provider.router());
    Ok(Shop { router, provider, users, hooks })
}
