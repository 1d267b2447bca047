//! `[storage]`: the database.

use serde::{Deserialize, Serialize};

/// `[storage]`: the database (its URL is `--database-url`, not a setting). Each key `k`
/// is also read from `PORTCULLIS_STORAGE_K`.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::store::SqliteDurability;
///
/// assert_eq!(Config::defaults().storage.sqlite_durability, SqliteDurability::Process);
/// let env = [("PORTCULLIS_STORAGE_SQLITE_DURABILITY".to_owned(), "full".to_owned())];
/// assert_eq!(Config::load(None, env)?.storage.sqlite_durability, SqliteDurability::Full);
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// What a SQLite commit survives: `process` (the process being killed; the
    /// default) or `full` (a power loss too, at a disk flush per commit). PostgreSQL
    /// keeps its own settings.
    pub sqlite_durability: crate::store::SqliteDurability,
    /// At most this many connections to a PostgreSQL server, per instance (SQLite uses
    /// one writer and four readers whatever this says).
    pub pool_size: u32,
    /// Seconds a request waits for a database connection before it is answered `503`
    /// with `Retry-After`: under more load than the database can take, requests are
    /// shed rather than queued without end.
    pub pool_timeout_seconds: u32,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            sqlite_durability: crate::store::SqliteDurability::default(),
            pool_size: crate::store::PostgresStore::DEFAULT_POOL_SIZE,
            pool_timeout_seconds: 5,
        }
    }
}

impl StorageSettings {
    /// How [`crate::store::connect_with_options`] opens the database with these settings.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use portcullis::config::Config;
    /// use portcullis::store;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    /// let env = [
    ///     ("PORTCULLIS_STORAGE_POOL_SIZE".to_owned(), "8".to_owned()),
    ///     ("PORTCULLIS_STORAGE_POOL_TIMEOUT_SECONDS".to_owned(), "2".to_owned()),
    /// ];
    /// let options = Config::load(None, env)?.storage.connect_options();
    /// assert_eq!(options.pool_size, 8);
    /// // A query waits at most this long for a connection, then fails as unavailable.
    /// assert_eq!(options.acquire_timeout, Duration::from_secs(2));
    ///
    /// // What `portcullis serve` does with `--database-url` and `[storage]`.
    /// let store = store::connect_with_options(&url, &options).await?;
    /// store.migrate().await?;
    /// store.ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            pool_size: self.pool_size,
            sqlite_durability: self.sqlite_durability,
            acquire_timeout: std::time::Duration::from_secs(u64::from(self.pool_timeout_seconds)),
        }
    }
}
