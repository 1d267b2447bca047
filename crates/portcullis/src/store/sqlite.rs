use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Sqlite};

use super::sql::{
    application_columns, device_grant_select, refresh_columns, sql_store, user_columns, ApplicationRow,
    ACCESS_TOKEN_BY_HASH,
};
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
    checkpointer: Arc<Checkpointer>,
}

/// The checkpoint task, stopped when the last clone of the store goes.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the WAL is copied back into the database file, off the write path.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

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
            .busy_timeout(Duration::from_secs(5))
            // Reads of the token index come from mapped memory rather than a read()
            // each; the mapping uses address space, not memory, until pages are touched.
            .pragma("mmap_size", "1073741824");
        // SQLite's own checkpoint runs inside the commit that crosses its threshold
        // (1,000 pages), stalling every write queued behind it: that was most of the
        // p99 of token issuance. A task checkpoints on its own connection instead. A
        // passive checkpoint cannot always finish while writes keep coming, so the
        // writer keeps a threshold, raised, as the backstop that restarts the WAL; by
        // then the task has copied most frames, so that checkpoint is short.
        let writer_options = options.clone().pragma("wal_autocheckpoint", "4096");
        // No ping before each checkout: a connection to a local file cannot have gone
        // stale, and the ping is a round trip to the driver's thread per query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(writer_options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        let checkpoint_connection =
            options.clone().connect().await.map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        let checkpointer = Arc::new(Checkpointer(tokio::spawn(checkpoint(checkpoint_connection))));
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true).create_if_missing(false))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        Ok(Self { writer, reader, checkpointer })
    }

    async fn close_pools(&self) {
        self.checkpointer.0.abort();
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

/// Copies committed WAL frames into the database file every [`CHECKPOINT_EVERY`].
/// PASSIVE: it never waits for, nor blocks, the writer or readers; frames a reader still
/// needs are left for a later round.
async fn checkpoint(mut connection: SqliteConnection) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut connection).await {
            tracing::warn!(%error, "WAL checkpoint failed; the writer's own checkpoint takes over");
        }
    }
}

sql_store!(SqliteStore, Sqlite);
