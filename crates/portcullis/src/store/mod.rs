//! Persistent storage behind one trait, [`Store`](crate::store::Store), with two
//! implementations: SQLite (the embedded default: one file, WAL mode) and PostgreSQL
//! (many stateless instances on one database). Both run the same SQL, written once in
//! `sql.rs`; each has its own migrations folder. `conformance` holds the test suite
//! both must pass.

mod admin;
mod audit;
pub mod front;
mod model;
mod postgres;
mod redact;
mod self_service;
mod sql;
mod sqlite;

pub mod conformance;

use async_trait::async_trait;

use crate::crypto::TokenHash;

pub use admin::*;
pub use audit::*;
pub use model::*;
// Until every caller names them by `crate::proto`.
pub use crate::proto::{AccessTokenFormat, ClientType, GrantType};
pub use postgres::PostgresStore;
pub(crate) use redact::{redact_url, redact_urls_in};
pub use self_service::*;
pub use sqlite::{SqliteDurability, SqliteStore};

/// Why the store could not do what it was asked.
///
/// ```
/// use portcullis::store::{self, NewUser, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let error = store::connect("mysql://db.internal/auth").await.err();
/// assert!(matches!(error, Some(StoreError::UnsupportedUrl(_))));
///
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
/// let ada = NewUser {
///     username: "ada".into(),
///     email: String::new(),
///     first_name: String::new(),
///     last_name: String::new(),
///     password_hash: None,
///     is_staff: false,
///     is_superuser: false,
///     date_joined: 1_700_000_000,
/// };
/// store.create_user(&ada).await?;
/// // A username is unique: the second is a conflict, which callers report as such.
/// assert!(matches!(store.create_user(&ada).await, Err(StoreError::Conflict(_))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the string names what was duplicated.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database cannot be reached, or the pool has no connection to give.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row holds a value the code does not understand.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other failure the database driver reports.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// [`connect`] was given a URL that names neither SQLite nor PostgreSQL; it holds
    /// the URL with its password masked.
    #[error("unsupported database URL {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Classifies a driver error, naming `what` on a uniqueness violation.
    pub(crate) fn from_sqlx(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                Self::Unavailable(error.to_string())
            }
            _ => Self::Database(error),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::from_sqlx(error, "record")
    }
}

/// The store's results: [`StoreError`] unless said otherwise.
///
/// ```
/// use portcullis::store::{self, Store};
///
/// /// The names of the applications a host lists on its own admin page.
/// async fn application_names(store: &dyn Store) -> store::Result<Vec<String>> {
///     Ok(store.list_applications().await?.into_iter().map(|app| app.name).collect())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
/// assert!(application_names(store.as_ref()).await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Portcullis keeps. Methods that change several rows do it in one
/// transaction: a failure changes nothing. Times are seconds since the Unix epoch, and
/// credentials are found by their [`TokenHash`], never their value.
///
/// Get one from [`connect`]. A host seldom needs more than registering its
/// applications and, with Portcullis's own users, creating them:
///
/// ```
/// use portcullis::crypto::{random_alphanumeric, Secret};
/// use portcullis::store::{self, AccessTokenFormat, ClientType, GrantType, NewApplication, NewUser};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = store::connect(&format!("sqlite://{}", dir.path().join("auth.db").display())).await?;
/// store.migrate().await?;
///
/// let now = 1_700_000_000;
/// let ada = NewUser {
///     username: "ada".into(),
///     email: "ada@example.com".into(),
///     first_name: "Ada".into(),
///     last_name: "Lovelace".into(),
///     password_hash: Some(portcullis::password::hash("correct horse battery")?),
///     is_staff: false,
///     is_superuser: false,
///     date_joined: now,
/// };
/// let ada = store.create_user(&ada).await?;
/// assert_eq!(store.user_by_username("ada").await?.map(|u| u.id), Some(ada.id));
/// store.add_user_to_group(ada.id, "editors").await?;
/// assert_eq!(store.user_groups(ada.id).await?, ["editors"]);
///
/// // A confidential client: print the secret once, keep only its hash.
/// let secret = Secret::generate();
/// let reports = NewApplication {
///     client_id: random_alphanumeric(32),
///     client_secret_hash: Some(secret.hash()),
///     name: "Reports".into(),
///     client_type: ClientType::Confidential,
///     grant_types: vec![GrantType::ClientCredentials],
///     redirect_uris: vec![],
///     allowed_scopes: None,
///     skip_authorization: false,
///     algorithm: "RS256".into(),
///     access_token_format: AccessTokenFormat::Opaque,
///     owner_id: Some(ada.id),
///     created_at: now,
/// };
/// let reports = store.create_application(&reports).await?;
/// println!("client {} secret {}", reports.client_id, secret.expose());
/// assert_eq!(store.application_by_client_id(&reports.client_id).await?, Some(reports.clone()));
/// assert_eq!(store.list_applications().await?.len(), 1);
///
/// // Deleting an application revokes what it holds; `cleartokens` sweeps the rest.
/// assert!(store.delete_application(&reports.client_id).await?);
/// let swept = store.clear_tokens(now).await?;
/// assert_eq!(swept.access_tokens, 0);
/// store.ping().await?;
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Brings the schema up to date. [`Store`]'s
    /// example calls it.
    async fn migrate(&self) -> Result<()>;
    /// A cheap round trip, for readiness checks. [`Store`]'s
    /// example calls it.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection, waiting for those in use to be returned. [`Store`]'s
    /// example calls it.
    async fn close(&self);
    /// Whether other server processes share this database (PostgreSQL, where
    /// instances scale out). Answers that must reflect their changes at once read past
    /// any cache then (see [`Store::access_token_uncached`]).
    fn shared(&self) -> bool {
        false
    }
    /// A signal for every committed change, by any process, to the records a cache may
    /// hold (access tokens, applications, users, groups), when the database can send
    /// one (PostgreSQL's `LISTEN`/`NOTIFY`); a lagging receiver should assume it missed
    /// one. `None` when it cannot.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }

    // Users.
    /// Adds a user, active. [`StoreError::Conflict`] if the username is taken. [`Store`]'s
    /// example calls it.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    /// The user with this id, active or not.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// The user with this username, active or not. [`Store`]'s
    /// example calls it.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// Creates or refreshes the row that mirrors a host application's account (see
    /// [`crate::accounts::Accounts`]): same id, no password, active.
    async fn link_user(&self, account: &crate::accounts::Account) -> Result<()>;
    /// Changes the fields `update` gives; `None` if there is no such user.
    async fn update_profile(&self, id: i64, update: &ProfileUpdate) -> Result<Option<User>>;
    /// Adds the user to the named group, creating the group if needed. [`Store`]'s
    /// example calls it.
    async fn add_user_to_group(&self, user_id: i64, group: &str) -> Result<()>;
    /// The names of the user's groups, sorted. [`Store`]'s
    /// example calls it.
    async fn user_groups(&self, user_id: i64) -> Result<Vec<String>>;

    // Applications.
    /// Registers an application. [`StoreError::Conflict`] if the client id is taken. [`Store`]'s
    /// example calls it.
    async fn create_application(&self, app: &NewApplication) -> Result<Application>;
    /// The application with this client id. [`Store`]'s
    /// example calls it.
    async fn application_by_client_id(&self, client_id: &str) -> Result<Option<Application>>;
    /// Every application, oldest first. [`Store`]'s
    /// example calls it.
    async fn list_applications(&self) -> Result<Vec<Application>>;
    /// Deletes the application and, with it, every token, code and consent it holds. [`Store`]'s
    /// example calls it.
    async fn delete_application(&self, client_id: &str) -> Result<bool>;

    // Tokens.
    /// Stores each item's access token and, if it has one, its refresh token, all in
    /// one transaction. The server's token endpoint reaches this through
    /// [`Front`](front::Front), which gathers concurrent requests into one batch.
    async fn insert_tokens(&self, batch: &[NewTokens]) -> Result<()>;
    /// [`Store::insert_tokens`] for one item.
    async fn insert_token(&self, tokens: &NewTokens) -> Result<()> {
        self.insert_tokens(std::slice::from_ref(tokens)).await
    }
    /// The access token with this hash, whatever its state: check it with
    /// [`AccessTokenRecord::is_valid`].
    async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>>;
    /// [`Store::access_token`] as the database has it now, past any cache, when other
    /// processes share it ([`Store::shared`]): for answers that must reflect a
    /// revocation made by another instance at once (introspection).
    async fn access_token_uncached(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>> {
        self.access_token(hash).await
    }
    /// The refresh token with this hash, whatever its state: see
    /// [`RefreshTokenRecord::verdict`].
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>>;
    /// Checks the refresh token again under a lock and, if it still may be used,
    /// issues the new tokens: exactly one of any number of concurrent exchanges of the
    /// same token wins.
    async fn exchange_refresh_token(&self, exchange: &RefreshExchange) -> Result<RefreshOutcome>;
    /// Revokes one access token (RFC 7009), unless it already is.
    async fn revoke_access_token(&self, id: i64, now: i64) -> Result<()>;
    /// Revokes every refresh token of the family and every access token issued with one.
    async fn revoke_refresh_family(&self, family: &str, now: i64) -> Result<()>;
    // Authorization codes and consent.
    /// Stores an authorization code (RFC 6749 §4.1.2).
    async fn insert_code(&self, code: &NewCode) -> Result<()>;
    /// The authorization code with this hash, used or not.
    async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>>;
    /// Marks the code used and stores the tokens it buys, in one transaction. A code
    /// already used is a replay: the tokens it bought are revoked (RFC 6749 §4.1.2:
    /// "If an authorization code is used more than once, the authorization server MUST
    /// deny the request and SHOULD revoke (when possible) all tokens previously issued
    /// based on that authorization code.").
    async fn redeem_code(&self, code_id: i64, now: i64, tokens: &NewTokens) -> Result<RedeemOutcome>;
    /// The scope the user has agreed to give the application, if any.
    async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<String>>;
    /// Records that the user agreed to give the application `scope` (space-separated),
    /// replacing what they agreed to before.
    async fn save_consent(&self, user_id: i64, application_id: i64, scope: &str, now: i64) -> Result<()>;

    // The device authorization grant (RFC 8628).
    /// Stores a device authorization request (RFC 8628 §3.1). [`StoreError::Conflict`]
    /// if the user code is taken.
    async fn insert_device_grant(&self, grant: &NewDeviceGrant) -> Result<()>;
    /// The request with this user code (normalised), in any state.
    async fn device_grant_by_user_code(&self, user_code: &str) -> Result<Option<DeviceGrantRecord>>;
    /// The request with this device code hash, in any state.
    async fn device_grant_by_code(&self, device_code: &TokenHash) -> Result<Option<DeviceGrantRecord>>;
    /// The user's answer: approves (for `user_id`) or denies a grant that is still
    /// pending and unexpired at `now`; `false` if it was not.
    async fn decide_device_grant(&self, id: i64, user_id: i64, approve: bool, now: i64) -> Result<bool>;
    /// One poll by the device, in one transaction with the grant's row locked: enforces
    /// the interval, and for an approved grant stores `tokens` and marks the grant used,
    /// so exactly one poll gets them. `tokens` must have been minted for the approving
    /// user; tokens minted for anyone else are not stored and the answer is `Pending`.
    async fn poll_device_grant(&self, id: i64, now: i64, tokens: &NewTokens) -> Result<DevicePoll>;

    // OpenID Connect signing keys.
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Stores `keys` in one transaction. With `retire`, every key still active for one
    /// of their algorithms is retired at `now` in the same transaction (rotation);
    /// without it, keys are added only for algorithms that have no active key yet, so a
    /// restart adds none. (Two instances starting at the same moment on PostgreSQL may
    /// each add one; both are then published, and the newer signs.)
    async fn add_signing_keys(&self, keys: &[NewSigningKey], retire: bool, now: i64) -> Result<()>;

    // Browser sessions and login throttling.
    /// Stores a browser session.
    async fn create_session(&self, session: &NewSession) -> Result<()>;
    /// The session, unless it has expired.
    async fn session(&self, id_hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>>;
    /// Ends a browser session (logout).
    async fn delete_session(&self, id_hash: &TokenHash) -> Result<()>;
    /// Takes a place for one attempt (a login, a typed device code) under each of
    /// `limits`, a throttle key and the most attempts it may have at or after `since`,
    /// before the attempt is checked. Atomic across every instance: either each key is
    /// under its limit and gets a row at `now` (their ids returned), or none is touched
    /// (`None`). A place stays, counted as a failure, unless
    /// [`Store::release_login_attempts`] gives it back; so concurrent guesses can never
    /// all be checked against a count that none of them has raised yet.
    async fn reserve_login_attempt(&self, limits: &[(&str, u32)], since: i64, now: i64) -> Result<Option<Vec<i64>>>;
    /// Gives back the places [`Store::reserve_login_attempt`] took, for an attempt that
    /// succeeded.
    async fn release_login_attempts(&self, ids: &[i64]) -> Result<()>;
    /// Failures for `key` at or after `since`.
    async fn login_failures(&self, key: &str, since: i64) -> Result<i64>;
    /// Forgets the failures recorded under `key` (after a successful login).
    async fn clear_login_failures(&self, key: &str) -> Result<()>;
    /// Sets the user's [`User::last_login`].
    async fn set_last_login(&self, user_id: i64, now: i64) -> Result<()>;

    // --- Application management and authorized-token pages (pages/applications.rs, pages/authorized.rs) ---
    /// The user's own applications, oldest first.
    async fn applications_owned_by(&self, owner_id: i64) -> Result<Vec<Application>>;
    /// The application with this id, if `owner_id` owns it.
    async fn owned_application(&self, owner_id: i64, id: i64) -> Result<Option<Application>>;
    /// Registers an application with settings checked by `registration::validate`.
    async fn register_application(
        &self,
        client_id: &str,
        client_secret_hash: Option<&TokenHash>,
        owner_id: Option<i64>,
        fields: &ApplicationFields,
        now: i64,
    ) -> Result<Application>;
    /// Replaces the settings of `owner_id`'s application `id` (`None` if there is no
    /// such application of theirs). A public client's secret hash is dropped; a
    /// confidential client's is replaced by `new_secret` when given, else kept.
    async fn update_owned_application(
        &self,
        owner_id: i64,
        id: i64,
        fields: &ApplicationFields,
        new_secret: Option<&TokenHash>,
        now: i64,
    ) -> Result<Option<Application>>;
    /// Replaces the secret of `owner_id`'s confidential application `id`; `false` if
    /// there is no such application of theirs, or it is public.
    async fn replace_client_secret(&self, owner_id: i64, id: i64, hash: &TokenHash, now: i64) -> Result<bool>;
    /// Deletes `owner_id`'s application `id` as [`Store::delete_application`] does.
    async fn delete_owned_application(&self, owner_id: i64, id: i64) -> Result<bool>;
    /// The applications `user_id` has let act for them at `now`: those holding a live
    /// (unrevoked, unexpired, not rotated-out) access or refresh token of theirs, or
    /// their consent. Ordered by name.
    async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>>;
    /// Takes back everything `user_id` gave `application_id`, in one transaction:
    /// revokes their access and refresh tokens (every refresh family of theirs, and
    /// the ID tokens), drops unused authorization codes and approved device grants,
    /// and deletes the consent, so the next authorization asks again. Returns how many
    /// tokens and consents were taken back.
    async fn revoke_user_grants(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;
    /// Revokes the user's access, refresh and ID tokens for the application in one
    /// transaction, keeping their consent (OpenID Connect logout). Returns how many
    /// access and refresh tokens it revoked.
    async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;

    // --- Admin pages (pages/admin.rs) ---
    /// How many users there are.
    async fn count_users(&self) -> Result<i64>;
    /// Users whose username or email contains `search` (case-insensitively; `%` and
    /// `_` match themselves), ordered by username, `limit` from `offset`.
    async fn list_users(&self, search: &str, limit: i64, offset: i64) -> Result<Listing<User>>;
    /// Activates or deactivates the user; deactivating also ends their browser sessions,
    /// in the same transaction. `false` if there is no such user.
    async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool>;
    /// Sets the user's password hash and ends their browser sessions, all but
    /// `keep_session` (the session making the change, when it is theirs), in one
    /// transaction. With `revoke_tokens_at`, the same transaction also revokes, as of
    /// then, every access, refresh and ID token issued to the user, for every
    /// application, and drops their unused authorization codes and approved device
    /// grants, which would still buy new tokens. `None` if there is no such user;
    /// otherwise how many access and refresh tokens were revoked.
    async fn reset_password(
        &self,
        user_id: i64,
        hash: &str,
        keep_session: Option<&TokenHash>,
        revoke_tokens_at: Option<i64>,
    ) -> Result<Option<u64>>;
    /// Replaces the user's groups with the named ones, creating groups as needed.
    /// `false` if there is no such user.
    async fn set_user_groups(&self, user_id: i64, groups: &[String]) -> Result<bool>;
    /// How many applications there are.
    async fn count_applications(&self) -> Result<i64>;
    /// Every user's applications whose name or client id contains `search`
    /// (as [`Store::list_users`] searches), ordered by name.
    async fn list_all_applications(&self, search: &str, limit: i64, offset: i64)
        -> Result<Listing<ApplicationListing>>;
    /// The application with this row id.
    async fn application_by_id(&self, id: i64) -> Result<Option<Application>>;
    /// Replaces the settings of application `id`, whoever owns it, as staff do on the
    /// admin pages (`None` if there is no such application). Its client type, and so
    /// its secret, stay as they are: `fields.client_type` is not written.
    async fn update_application(&self, id: i64, fields: &ApplicationFields, now: i64) -> Result<Option<Application>>;
    /// Access tokens, newest first.
    async fn list_access_tokens(
        &self,
        filter: &TokenFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Listing<AccessTokenListing>>;
    /// The access token with this row id, as staff see it.
    async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessTokenListing>>;
    /// Access tokens that work at `now`: unrevoked, unexpired, and their user (if any)
    /// active.
    async fn count_live_tokens(&self, now: i64) -> Result<i64>;

    /// Deletes expired and revoked tokens and expired codes. Refresh tokens go only
    /// when their whole family is dead, so reuse detection keeps working. [`Store`]'s
    /// example calls it, as `portcullis cleartokens` does.
    async fn clear_tokens(&self, now: i64) -> Result<Cleared>;

    // --- The audit log (audit.rs; recorded through crate::audit) ---
    /// Appends `events` in one statement. The server reaches this through
    /// [`Front`](front::Front), which writes them in the group commit beside new tokens.
    /// Nothing ever updates or deletes an event ([`Store::clear_tokens`] leaves them).
    /// [`NewAuditEvent`]'s example records events.
    async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()>;
    /// [`Store::record_audit_events`] for one event. [`NewAuditEvent`]'s example calls it.
    async fn record_audit_event(&self, event: &NewAuditEvent) -> Result<()> {
        self.record_audit_events(std::slice::from_ref(event)).await
    }
    /// At most `limit` events that match `filter`, newest (highest id) first; the next
    /// page is the same filter with `before` the last id of this one. [`AuditFilter`]'s
    /// example pages through them.
    async fn list_audit_events(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>>;

    // --- Metrics (metrics.rs) ---
    /// How many browser sessions of logged-in users have not expired at `now`; the
    /// anonymous ones that only carry the login form's CSRF token do not count.
    async fn count_active_sessions(&self, now: i64) -> Result<i64>;
    /// How each connection pool is used right now, read from the driver without a
    /// query. Empty for a store without pools. [`PoolStats`]'s example reads them.
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }
}

/// One connection pool's use at a moment, for `/metrics`.
///
/// ```
/// use portcullis::store;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
/// let pools = store.pool_stats();
/// // SQLite: one connection that writes, and a pool that reads.
/// let names: Vec<&str> = pools.iter().map(|pool| pool.name).collect();
/// assert_eq!(names, ["writer", "reader"]);
/// assert!(pools.iter().all(|pool| pool.in_use() <= pool.open && pool.open <= pool.max));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Which pool: `writer` and `reader` for SQLite, `main` for PostgreSQL.
    pub name: &'static str,
    /// Connections open, idle or lent out.
    pub open: u32,
    /// Of those, the idle ones.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// `pool`'s numbers now. The driver counts open and idle connections apart, so a
    /// connection returned between the two reads could make idle exceed open: it is
    /// capped.
    pub(crate) fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> Self {
        let open = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
        Self { name, open, idle, max: pool.options().get_max_connections() }
    }

    /// Connections lent out now. [`PoolStats`]'s example reads it.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// Opens (creating a SQLite file if missing) the database a URL names, behind the
/// cache and group commit of [`front::Front`]. Does not migrate.
///
/// ```no_run
/// # async fn run() -> Result<(), portcullis::store::StoreError> {
/// // Or "postgres://portcullis@db.internal/portcullis", for several instances.
/// let store = portcullis::store::connect("sqlite://portcullis.db").await?;
/// store.migrate().await?;
/// store.ping().await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    connect_with(url, PostgresStore::DEFAULT_POOL_SIZE).await
}

/// As [`connect`], with at most `pool_size` connections to a PostgreSQL server.
///
/// ```no_run
/// # async fn run() -> Result<(), portcullis::store::StoreError> {
/// // Four instances, each with at most 8 connections, stay within a server's 40.
/// let store = portcullis::store::connect_with("postgres://portcullis@db.internal/portcullis", 8).await?;
/// store.migrate().await?;
/// assert!(store.shared(), "other instances may change the same rows");
/// # Ok(())
/// # }
/// ```
pub async fn connect_with(url: &str, pool_size: u32) -> Result<std::sync::Arc<dyn Store>> {
    connect_with_options(url, &ConnectOptions { pool_size, ..ConnectOptions::default() }).await
}

/// How [`connect_with_options`] opens the database; each field applies to one backend
/// and the other ignores it. The `[storage]` settings give them with
/// [`StorageSettings::connect_options`](crate::config::StorageSettings::connect_options).
///
/// ```
/// use std::time::Duration;
///
/// use portcullis::store::{self, ConnectOptions, SqliteDurability};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// // Commits that survive a power loss, at a disk flush each; and a query that waits
/// // more than half a second for a connection fails (StoreError::Unavailable).
/// let options = ConnectOptions {
///     sqlite_durability: SqliteDurability::Full,
///     acquire_timeout: Duration::from_millis(500),
///     ..ConnectOptions::default()
/// };
/// assert_eq!(ConnectOptions::default().acquire_timeout, Duration::from_secs(5));
/// let store = store::connect_with_options(&url, &options).await?;
/// store.migrate().await?;
/// store.ping().await?;
/// assert!(!store.shared(), "one SQLite file, one process");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// At most this many connections to a PostgreSQL server.
    pub pool_size: u32,
    /// What a SQLite commit survives (the `storage.sqlite_durability` setting).
    pub sqlite_durability: SqliteDurability,
    /// How long a query waits for a connection before failing with
    /// [`StoreError::Unavailable`] (answered `503`): a bound on queueing under overload.
    pub acquire_timeout: std::time::Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            pool_size: PostgresStore::DEFAULT_POOL_SIZE,
            sqlite_durability: SqliteDurability::default(),
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// As [`connect`], with the pool size and SQLite durability `options` give.
/// [`ConnectOptions`]'s example calls it.
pub async fn connect_with_options(url: &str, options: &ConnectOptions) -> Result<std::sync::Arc<dyn Store>> {
    let store: std::sync::Arc<dyn Store> = if url.starts_with("sqlite:") {
        std::sync::Arc::new(SqliteStore::connect_with_options(url, options).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        std::sync::Arc::new(PostgresStore::connect_with_options(url, options).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(redact_url(url)));
    };
    Ok(std::sync::Arc::new(front::Front::new(store)))
}

/// Lists are kept as space-separated text (as django-oauth-toolkit keeps redirect URIs);
/// none of their items may contain a space.
pub(crate) fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
