use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::sql::{application_columns, refresh_columns, sql_store, user_columns, ApplicationRow, ACCESS_TOKEN_BY_HASH};
use super::*;

/// PostgreSQL, for many stateless instances on one database. Row locks and
/// transactions, not process-local state, keep concurrent instances consistent.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
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
