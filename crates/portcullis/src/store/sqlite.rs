use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;

use super::sql::{application_columns, refresh_columns, sql_store, user_columns, ApplicationRow, ACCESS_TOKEN_BY_HASH};
use super::*;

/// The embedded default: one SQLite file in WAL mode.
///
/// SQLite lets one connection write at a time. Writes go through a pool of exactly one
/// connection, so they queue in the process instead of failing with `SQLITE_BUSY`, and
/// reads use their own pool, which WAL lets run beside the writer.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens the file a `sqlite:` URL names, creating it if missing.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with synchronous=NORMAL loses nothing when the process crashes: a
            // commit is in the OS's hands before it returns. (Power loss can undo the
            // last commits; synchronous=FULL would cover that at a cost per commit.)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // No ping before each checkout: a connection to a local file cannot have gone
        // stale, and the ping is a round trip to the driver's thread per query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true).create_if_missing(false))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        Ok(Self { writer, reader })
    }

    async fn close_pools(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }
}

sql_store!(SqliteStore, Sqlite);
