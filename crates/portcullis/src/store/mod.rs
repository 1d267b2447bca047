//! Persistent storage, one trait per aggregate, with two implementations: SQLite (the
//! embedded default: one file, WAL mode) and PostgreSQL (many stateless instances on
//! one database). [`Store`](crate::store::Store) is the sum of the aggregates' traits:
//! an `Arc<dyn Store>` calls the methods of every one of them, and a concrete store
//! does with [`prelude`](crate::store::prelude) in scope.
//!
//! Each aggregate's file holds its records, its trait and its SQL: `users.rs`,
//! `applications.rs`, `tokens.rs` (access and refresh tokens, with the exchange rule in
//! `refresh.rs`), `codes.rs`, `consents.rs`, `device.rs`, `keys.rs`, `sessions.rs`,
//! `audit.rs`, `listings.rs` (what the staff pages and the metrics count and page
//! through), `connection.rs` (readiness, change notifications, pool use) and
//! `maintenance.rs` (migrations, the sweep of expired rows).
//! Where the protocol decides something about stored rows (a device's poll, a refresh
//! token's exchange), the rule is a pure function over the row, unit-tested without a
//! database, that the store applies in the transaction that holds the row's lock.
//!
//! Both backends run the same SQL, written once: each file's SQL is a `macro_rules!`
//! (`users_sql!`, …) that `sqlite.rs` and `postgres.rs` stamp out for their concrete
//! pool type. A macro rather than code generic over `sqlx::Database`, because sqlx
//! reaches a driver's executors and codecs only through trait bounds, one per bound
//! type and executor, which every generic function would have to repeat; stamped out,
//! each query is type-checked against one concrete driver, and SQLite and PostgreSQL
//! cannot drift apart. Placeholders are `$N`, which both drivers accept, and only
//! portable SQL goes in (`RETURNING`, `ON CONFLICT`, no backend-specific functions).
//! A backend supplies what differs: `writer()` and `reader()` (its pools),
//! `begin_locked()` (a transaction holding named locks: `BEGIN IMMEDIATE` on SQLite,
//! advisory locks on PostgreSQL), `run_migrations()`, `close_pools()`, `is_shared()`
//! and `change_feed()`.
//!
//! [`Front`](crate::store::front::Front) is what the server talks to: a cache and a
//! group commit in front of either backend, overriding only the aggregates they change
//! (see [`Layer`](crate::store::Layer)).
//! `conformance` (feature `testing`) holds the checks both backends must pass.

mod applications;
mod audit;
mod codes;
mod connection;
mod consents;
mod device;
pub mod front;
mod keys;
mod listings;
mod maintenance;
mod postgres;
mod redact;
mod refresh;
mod sessions;
mod sqlite;
mod tokens;
mod users;

/// The checks every [`Store`] must pass, run by the integration suite against each
/// backend. Only in builds with the `testing` feature.
#[cfg(feature = "testing")]
pub mod conformance;

pub use applications::{Application, ApplicationSettings, Applications};
pub use audit::{AuditEvent, AuditFilter, AuditKind, AuditLog, NewAuditEvent, MAX_DETAIL};
pub use codes::{CodeChallenge, CodeRecord, Codes, NewCode, RedeemOutcome};
pub use connection::{Connection, PoolStats};
pub use consents::{AuthorizedApplication, Consent, Consents};
pub use device::{DeviceGrantRecord, DeviceGrants, DevicePoll, NewDeviceGrant};
pub use keys::{NewSigningKey, SigningKeyRecord, SigningKeys};
pub use listings::{AccessTokenListing, ApplicationListing, Listing, Listings, TokenFilter};
pub use maintenance::{Cleared, Maintenance};
pub use postgres::PostgresStore;
pub(crate) use redact::{redact_url, redact_urls_in};
pub use sessions::{NewSession, SessionRecord, Sessions};
pub use sqlite::{SqliteDurability, SqliteStore};
pub use tokens::{
    AccessTokenRecord, NewRefresh, NewTokens, RefreshExchange, RefreshOutcome, RefreshTokenRecord, TokenStatus, Tokens,
};
pub use users::{LinkedUser, NewUser, ProfileUpdate, User, Users};

/// The aggregates' traits, for calling their methods on a concrete store
/// ([`SqliteStore`], [`PostgresStore`]) or a generic one: `use
/// portcullis::store::prelude::*;`. A `dyn Store` needs none of them in scope.
pub mod prelude {
    pub use super::{
        Applications, AuditLog, Codes, Connection, Consents, DeviceGrants, Listings, Maintenance, Sessions,
        SigningKeys, Store, Tokens, Users,
    };
}

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
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Portcullis keeps: the sum of one trait per aggregate. Methods that change
/// several rows do it in one transaction: a failure changes nothing. Times are seconds
/// since the Unix epoch, and credentials are found by their hash, never their value.
///
/// Get one from [`connect`]. A host seldom needs more than registering its
/// applications and, with Portcullis's own users, creating them:
///
/// ```
/// use portcullis::crypto::{random_alphanumeric, Secret};
/// use portcullis::proto::{ClientType, GrantType};
/// use portcullis::store::{self, ApplicationSettings, NewUser};
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
/// let settings = ApplicationSettings {
///     name: "Reports".into(),
///     client_type: ClientType::Confidential,
///     grant_types: vec![GrantType::ClientCredentials],
///     ..ApplicationSettings::default()
/// };
/// let client_id = random_alphanumeric(32);
/// let reports = store.create_application(&client_id, Some(&secret.hash()), Some(ada.id), &settings, now).await?;
/// println!("client {} secret {}", reports.client_id, secret.expose());
/// assert_eq!(store.application_by_client_id(&client_id).await?, Some(reports.clone()));
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
pub trait Store:
    Connection
    + Maintenance
    + Users
    + Applications
    + Tokens
    + Codes
    + Consents
    + DeviceGrants
    + SigningKeys
    + Sessions
    + AuditLog
    + Listings
{
}

impl<T> Store for T where
    T: Connection
        + Maintenance
        + Users
        + Applications
        + Tokens
        + Codes
        + Consents
        + DeviceGrants
        + SigningKeys
        + Sessions
        + AuditLog
        + Listings
        + ?Sized
{
}

/// A store in front of another that changes what some aggregates do (a cache, say) and
/// passes the others through whole: for each of those it implements [`PassThrough`],
/// and that aggregate's trait is implemented for it by calling [`Layer::inner`].
pub trait Layer: Send + Sync + 'static {
    /// The store underneath.
    fn inner(&self) -> &dyn Store;
}

/// Marks a [`Layer`] that passes aggregate `A` (`dyn DeviceGrants`, say) to its inner
/// store unchanged. The connection, consents, device grants, signing keys, sessions and
/// listings can be passed so.
pub trait PassThrough<A: ?Sized>: Layer {}

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
/// and the other ignores it. The `[storage]` settings give them.
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
