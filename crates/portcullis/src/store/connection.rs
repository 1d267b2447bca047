//! The connection to the database: readiness, closing, whether other processes share
//! it and what they change, and the pools' use.

use async_trait::async_trait;

use super::Result;

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

/// The connection to the database.
#[async_trait]
pub trait Connection: Send + Sync + 'static {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection, waiting for those in use to be returned.
    async fn close(&self);
    /// Whether other server processes share this database (PostgreSQL, where
    /// instances scale out). Answers that must reflect their changes at once read past
    /// any cache then (see
    /// [`Tokens::access_token_uncached`](super::Tokens::access_token_uncached)).
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
}

#[async_trait]
impl<L: super::PassThrough<dyn Connection>> Connection for L {
    async fn ping(&self) -> Result<()> {
        self.inner().ping().await
    }
    async fn close(&self) {
        self.inner().close().await;
    }
    fn shared(&self) -> bool {
        self.inner().shared()
    }
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        self.inner().changes()
    }
    fn pool_stats(&self) -> Vec<PoolStats> {
        self.inner().pool_stats()
    }
}

/// Implements [`Connection`] for a backend (see the module documentation of `store`).
macro_rules! connection_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Connection for $store {
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
        }
    };
}

pub(super) use connection_sql;
