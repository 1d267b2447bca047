use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Sqlite};

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

/// What a SQLite commit survives once it has returned (the `storage.sqlite_durability`
/// setting). Both run in WAL mode; they differ in when SQLite waits for the disk.
///
/// PostgreSQL ignores it: there durability is the server's own (`fsync`,
/// `synchronous_commit`), and Portcullis answers only after its commit returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteDurability {
    /// `synchronous=NORMAL`: a commit has been written to the operating system before
    /// it returns, so it survives the process being killed or crashing; the WAL is
    /// flushed to the disk only at checkpoints, so a power loss or a kernel crash can
    /// undo the last commits (never corrupt the file). The default: no disk flush per
    /// commit.
    #[default]
    Process,
    /// `synchronous=FULL`: every commit waits for the WAL to reach the disk, so it
    /// survives a power loss too (on a disk that honours flushes), at the cost of a
    /// flush per commit; group commit shares that flush among the tokens of a batch.
    Full,
}

impl SqliteDurability {
    fn synchronous(self) -> SqliteSynchronous {
        match self {
            Self::Process => SqliteSynchronous::Normal,
            Self::Full => SqliteSynchronous::Full,
        }
    }
}

impl SqliteStore {
    /// Opens the file a `sqlite:` URL names, creating it if missing, with the default
    /// durability ([`SqliteDurability::Process`]).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, SqliteDurability::default()).await
    }

    /// [`SqliteStore::connect`], with commits as durable as `durability` says.
    pub async fn connect_with(url: &str, durability: SqliteDurability) -> Result<Self> {
        Self::connect_with_options(url, &super::ConnectOptions { sqlite_durability: durability, ..Default::default() })
            .await
    }

    /// [`SqliteStore::connect`], with the durability and connection wait `options` give.
    pub async fn connect_with_options(url: &str, connect: &super::ConnectOptions) -> Result<Self> {
        let durability = connect.sqlite_durability;
        // Messages name the file, never a password the URL may carry.
        let shown = super::redact_url(url);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("{shown}: {}", super::redact_urls_in(&e.to_string()))))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every connection gets the same setting, though only the writer's commits
            // depend on it: the checkpointer flushes the database file either way.
            .synchronous(durability.synchronous())
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
            .acquire_timeout(connect.acquire_timeout)
            .connect_with(writer_options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {shown}: {e}")))?;
        let checkpoint_connection = options
            .clone()
            .connect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {shown}: {e}")))?;
        let checkpointer = Arc::new(Checkpointer(tokio::spawn(checkpoint(checkpoint_connection))));
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(connect.acquire_timeout)
            .connect_with(options.read_only(true).create_if_missing(false))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {shown}: {e}")))?;
        Ok(Self { writer, reader, checkpointer })
    }

    async fn close_pools(&self) {
        self.checkpointer.0.abort();
        self.reader.close().await;
        self.writer.close().await;
    }

    /// One server per file: only its command line writes beside it.
    fn is_shared(&self) -> bool {
        false
    }

    /// SQLite cannot notify other processes; their changes show within the cache's
    /// maximum age.
    fn change_feed(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// A transaction that takes the database's write lock at once (`BEGIN IMMEDIATE`),
    /// so that what it reads stays true until it commits, for every process on the
    /// file; within this one the single writer connection already serializes.
    async fn begin_locked(&self, _keys: &[&str]) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
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

connection_sql!(SqliteStore, Sqlite);
maintenance_sql!(SqliteStore, Sqlite);
users_sql!(SqliteStore, Sqlite);
applications_sql!(SqliteStore, Sqlite);
tokens_sql!(SqliteStore, Sqlite);
codes_sql!(SqliteStore, Sqlite);
consents_sql!(SqliteStore, Sqlite);
device_grants_sql!(SqliteStore, Sqlite);
signing_keys_sql!(SqliteStore, Sqlite);
sessions_sql!(SqliteStore, Sqlite);
audit_log_sql!(SqliteStore, Sqlite);
listings_sql!(SqliteStore, Sqlite);

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `PRAGMA synchronous` on a connection of `pool`: 1 is NORMAL, 2 is FULL.
    async fn synchronous(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap()
    }

    /// The setting reaches SQLite itself on every pool's connections, and WAL with it:
    /// a typo in the pragma or an option dropped on the way would otherwise go
    /// unnoticed, since both modes answer every query alike.
    #[tokio::test]
    async fn durability_sets_synchronous_on_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        for (durability, expected) in [(SqliteDurability::Process, 1), (SqliteDurability::Full, 2)] {
            let url = format!("sqlite://{}", dir.path().join(format!("{durability:?}.db")).display());
            let store = SqliteStore::connect_with(&url, durability).await.unwrap();
            store.run_migrations().await.unwrap();
            assert_eq!(synchronous(store.writer()).await, expected, "{durability:?}: writer");
            assert_eq!(synchronous(store.reader()).await, expected, "{durability:?}: reader");
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.writer()).await.unwrap();
            assert_eq!(journal, "wal", "{durability:?}");
            store.close_pools().await;
        }
        // The default is the process-crash guarantee.
        let url = format!("sqlite://{}", dir.path().join("default.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(synchronous(store.writer()).await, 1);
        store.close_pools().await;
    }

    #[test]
    fn durability_names_are_the_settings_values() {
        let parse = |text: &str| serde_json::from_value::<SqliteDurability>(serde_json::json!(text));
        assert_eq!(parse("process").unwrap(), SqliteDurability::Process);
        assert_eq!(parse("full").unwrap(), SqliteDurability::Full);
        assert!(parse("normal").is_err());
    }
}
