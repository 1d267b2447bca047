use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::sql::{
    application_columns, device_grant_select, refresh_columns, sql_store, user_columns, ApplicationRow,
    ACCESS_TOKEN_BY_HASH,
};
use super::*;

/// PostgreSQL, for many stateless instances on one database. Row locks and
/// transactions, not process-local state, keep concurrent instances consistent.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connections per process unless told otherwise: enough to keep two cores busy
    /// while some wait on the network, few enough that many instances fit under
    /// PostgreSQL's default limit of 100.
    pub const DEFAULT_POOL_SIZE: u32 = 16;

    /// Connects to the database a `postgres://` URL names, with at most `pool_size`
    /// connections. Does not migrate.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self { pool })
    }

    /// The pool, for tests and tools that need to run their own SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

sql_store!(PostgresStore, Postgres);
