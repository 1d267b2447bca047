use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::applications::applications_sql;
use super::audit::audit_log_sql;
use super::codes::codes_sql;
use super::connection::connection_sql;
use super::consents::consents_sql;
use super::device::device_grants_sql;
use super::keys::signing_keys_sql;
use super::listings::listings_sql;
use super::maintenance::maintenance_sql;
use super::sessions::sessions_sql;
use super::tokens::tokens_sql;
use super::users::users_sql;
use super::*;
use crate::crypto::TokenHash;

/// PostgreSQL, for many stateless instances on one database. Row locks and
/// transactions, not process-local state, keep concurrent instances consistent.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    changes: tokio::sync::broadcast::Sender<()>,
    listener: Arc<Listener>,
}

/// The task that listens for change notifications, stopped with the last clone of the
/// store.
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The channel the migrations' triggers notify (0003_change_notifications.sql).
const CHANGES_CHANNEL: &str = "portcullis_changes";

/// How long to wait before listening again after the connection was lost.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

/// Listens on [`CHANGES_CHANNEL`] for as long as the store lives, passing each
/// notification on. A lost connection is opened again; a signal is sent then, since
/// notifications may have been missed meanwhile.
async fn listen(pool: PgPool, changes: tokio::sync::broadcast::Sender<()>) {
    // A listener keeps its connection for good: from a pool of its own, or it would
    // take one of `pool_size` away from the queries (and all of a pool of one).
    let own = PgPoolOptions::new().max_connections(1).connect_lazy_with((*pool.connect_options()).clone());
    loop {
        match sqlx::postgres::PgListener::connect_with(&own).await {
            Ok(mut listener) => match listener.listen(CHANGES_CHANNEL).await {
                Ok(()) => {
                    let _ = changes.send(());
                    loop {
                        match listener.recv().await {
                            Ok(_) => {
                                let _ = changes.send(());
                            }
                            Err(error) => {
                                tracing::warn!(%error, "change notifications lost; listening again");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot listen for change notifications"),
            },
            Err(error) => tracing::warn!(%error, "cannot connect to listen for change notifications"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}

impl PostgresStore {
    /// Connections per process unless told otherwise: enough to keep two cores busy
    /// while some wait on the network, few enough that many instances fit under
    /// PostgreSQL's default limit of 100.
    pub const DEFAULT_POOL_SIZE: u32 = 16;

    /// Connects to the database a `postgres://` URL names, with at most `pool_size`
    /// connections. Does not migrate.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        Self::connect_with_options(url, &super::ConnectOptions { pool_size, ..Default::default() }).await
    }

    /// Connects with the pool size and connection wait `options` give. Does not migrate.
    pub async fn connect_with_options(url: &str, options: &super::ConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(|e| {
                // The URL says which server, without its password; the driver's text
                // is masked too, in case it quotes the URL.
                let (url, e) = (super::redact_url(url), super::redact_urls_in(&e.to_string()));
                StoreError::Unavailable(format!("cannot connect to PostgreSQL at {url}: {e}"))
            })?;
        let (changes, _) = tokio::sync::broadcast::channel(16);
        let listener = Arc::new(Listener(tokio::spawn(listen(pool.clone(), changes.clone()))));
        Ok(Self { pool, changes, listener })
    }

    /// Every instance shares the database.
    fn is_shared(&self) -> bool {
        true
    }

    fn change_feed(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        Some(self.changes.subscribe())
    }

    /// The pool, for tests and tools that need to run their own SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn close_pools(&self) {
        self.listener.0.abort();
        self.pool.close().await;
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction that holds `keys` against every other transaction, on any
    /// instance, until it ends: an advisory lock per key (two keys that hash alike
    /// merely wait for each other), taken in order so that two transactions cannot
    /// deadlock.
    async fn begin_locked(&self, keys: &[&str]) -> Result<sqlx::Transaction<'static, Postgres>> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

connection_sql!(PostgresStore, Postgres);
maintenance_sql!(PostgresStore, Postgres);
users_sql!(PostgresStore, Postgres);
applications_sql!(PostgresStore, Postgres);
tokens_sql!(PostgresStore, Postgres);
codes_sql!(PostgresStore, Postgres);
consents_sql!(PostgresStore, Postgres);
device_grants_sql!(PostgresStore, Postgres);
signing_keys_sql!(PostgresStore, Postgres);
sessions_sql!(PostgresStore, Postgres);
audit_log_sql!(PostgresStore, Postgres);
listings_sql!(PostgresStore, Postgres);
