//! The database as a whole: its schema, its connections, and sweeping out what has
//! expired.

use async_trait::async_trait;

use super::Result;

/// How many rows `cleartokens` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Access tokens deleted.
    pub access_tokens: u64,
    /// Refresh tokens deleted.
    pub refresh_tokens: u64,
    /// Authorization codes deleted.
    pub codes: u64,
    /// Device authorization requests past their expiry, answered or not.
    pub device_grants: u64,
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

    /// Connections lent out now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// The database as a whole: migrations, readiness, connections, change notifications
/// and the sweep of expired rows.
#[async_trait]
pub trait Maintenance: Send + Sync + 'static {
    /// Brings the schema up to date.
    async fn migrate(&self) -> Result<()>;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection, waiting for those in use to be returned.
    async fn close(&self);
    /// Whether other server processes share this database (PostgreSQL, where
    /// instances scale out). Answers that must reflect their changes at once read past
    /// any cache then (see [`Tokens::access_token_uncached`](super::Tokens::access_token_uncached)).
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
    /// How each connection pool is used right now, read from the driver without a
    /// query. Empty for a store without pools.
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }
    /// Deletes expired and revoked tokens, expired codes, device grants and sessions,
    /// and login failures older than a day. Refresh tokens go only when their whole
    /// family is dead, so reuse detection keeps working; the audit log stays whole.
    async fn clear_tokens(&self, now: i64) -> Result<Cleared>;
}

/// Implements [`Maintenance`] for a backend (see the module documentation of `store`).
macro_rules! maintenance_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Maintenance for $store {
            async fn migrate(&self) -> Result<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn close(&self) {
                self.close_pools().await;
            }

            fn shared(&self) -> bool {
                self.is_shared()
            }

            fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
                self.change_feed()
            }

            fn pool_stats(&self) -> Vec<PoolStats> {
                let (writer, reader) = (self.writer(), self.reader());
                // PostgreSQL's writer and reader are one pool (the same field); SQLite
                // has a one-connection writer beside a pool of readers.
                if std::ptr::eq(writer, reader) {
                    vec![PoolStats::of("main", writer)]
                } else {
                    vec![PoolStats::of("writer", writer), PoolStats::of("reader", reader)]
                }
            }

            async fn clear_tokens(&self, now: i64) -> Result<Cleared> {
                let mut tx = self.writer().begin().await?;
                let refresh = sqlx::query(
                    "DELETE FROM refresh_tokens WHERE family IN ( \
                       SELECT family FROM refresh_tokens GROUP BY family \
                       HAVING SUM(CASE WHEN revoked_at IS NULL AND rotated_at IS NULL \
                                        AND (expires_at IS NULL OR expires_at > $1) THEN 1 ELSE 0 END) = 0)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let access = sqlx::query("DELETE FROM access_tokens WHERE revoked_at IS NOT NULL OR expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let codes = sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let device_grants =
                    sqlx::query("DELETE FROM device_grants WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
                // Throttling looks back at most a day.
                sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
                    .bind(now - 86_400)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Cleared {
                    access_tokens: access.rows_affected(),
                    refresh_tokens: refresh.rows_affected(),
                    codes: codes.rows_affected(),
                    device_grants: device_grants.rows_affected(),
                })
            }
        }
    };
}

pub(super) use maintenance_sql;
