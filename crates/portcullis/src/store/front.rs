//! What the server talks to: a [`Store`] behind an in-process cache of the records every
//! API call reads, and a group commit of new tokens. It is a [`Layer`]: the connection,
//! consents, device grants, signing keys, sessions and listings pass through it whole.
//!
//! **The cache** keeps access tokens by hash, applications by client id, and users and
//! their groups by id: what a protected API call, an introspection and a client's
//! authentication read. Every store method that changes rows which could be in
//! the cache drops the whole cache once the change is made (a generation count keeps a
//! read that raced with the change from putting the old record back). So on this
//! process a revocation, a deactivation or a new secret takes effect as soon as the call
//! that made it returns. Changes made by another process on the same database (a second
//! instance, or `portcullis app delete` beside a running server) are seen once the
//! cached copy ages out, after at most [`MAX_AGE`]; on PostgreSQL, sooner: the database
//! notifies every instance of each committed change (`LISTEN`/`NOTIFY`, see
//! [`Connection::changes`]) and each drops its cache on the signal, so MAX_AGE is only
//! the bound while that connection is down. Introspection reads past the cache on
//! PostgreSQL ([`Tokens::access_token_uncached`]), so its answer reflects a revocation
//! made by any instance at once. Nothing absent is cached, so a new token or
//! application is found at once everywhere.
//!
//! **Group commit**: [`Tokens::insert_tokens`] calls that arrive while a batch is being
//! written wait and go together in the next one, in one statement per table and one
//! transaction. A caller's call returns only after its batch has committed, so a token
//! is durable before the client sees it. [`AuditLog::record_audit_events`] calls join the
//! same queue: the events taken with a batch are written in one statement after its
//! tokens.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::crypto::TokenHash;

/// How long a cached record is trusted: the bound on how late this process sees a
/// change made by another one.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Records per map; a full map is emptied rather than tracked for eviction, which keeps
/// every operation O(1) and memory bounded when many distinct tokens are presented.
const MAX_ENTRIES: usize = 65_536;

/// Rows per group commit. Bounded so one statement stays well under SQLite's
/// 32,766 bound parameters and a batch's failure, retried one by one, stays cheap.
const MAX_BATCH: usize = 64;

struct Entry<V> {
    at: Instant,
    value: V,
}

struct Maps {
    generation: u64,
    tokens: HashMap<TokenHash, Entry<AccessTokenRecord>>,
    applications: HashMap<String, Entry<Application>>,
    users: HashMap<i64, Entry<User>>,
    groups: HashMap<i64, Entry<Vec<String>>>,
}

#[derive(Clone)]
struct Cache(Arc<RwLock<Maps>>);

impl Cache {
    fn new() -> Self {
        Self(Arc::new(RwLock::new(Maps {
            generation: 0,
            tokens: HashMap::new(),
            applications: HashMap::new(),
            users: HashMap::new(),
            groups: HashMap::new(),
        })))
    }

    /// The cached value if fresh, else the generation to pass to [`Cache::put`].
    fn get<Q, K, V>(&self, map: fn(&Maps) -> &HashMap<K, Entry<V>>, key: &Q) -> Result<V, u64>
    where
        Q: Eq + Hash + ?Sized,
        K: Eq + Hash + std::borrow::Borrow<Q>,
        V: Clone,
    {
        // A poisoned lock only means a thread panicked while holding it: go to the
        // database, and cache nothing (no generation matches u64::MAX for long).
        let Ok(maps) = self.0.read() else { return Err(u64::MAX) };
        match map(&maps).get(key) {
            Some(entry) if entry.at.elapsed() < MAX_AGE => Ok(entry.value.clone()),
            _ => Err(maps.generation),
        }
    }

    /// Caches `value` unless the cache was dropped since `generation` was read: then
    /// the value may predate a change, and the next read goes to the database again.
    fn put<K: Eq + Hash, V>(&self, map: fn(&mut Maps) -> &mut HashMap<K, Entry<V>>, generation: u64, key: K, value: V) {
        let Ok(mut maps) = self.0.write() else { return };
        if maps.generation != generation {
            return;
        }
        let map = map(&mut maps);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, Entry { at: Instant::now(), value });
    }

    fn clear(&self) {
        let mut maps = match self.0.write() {
            Ok(maps) => maps,
            Err(poisoned) => poisoned.into_inner(),
        };
        maps.generation = maps.generation.wrapping_add(1);
        maps.tokens.clear();
        maps.applications.clear();
        maps.users.clear();
        maps.groups.clear();
    }
}

/// Clears the cache when dropped: after a change completes, and also when the request
/// making it is cancelled midway, since the change may have committed all the same.
struct ClearOnDrop<'a>(&'a Cache);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// What a job asks the writer to store.
enum Rows {
    Tokens(Vec<NewTokens>),
    Events(Vec<NewAuditEvent>),
}

struct Job {
    rows: Rows,
    done: oneshot::Sender<Result<()>>,
}

/// A store method that writes rows of one kind in one transaction.
type Write<T> = for<'a> fn(&'a dyn Store, &'a [T]) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// The rows of one kind taken from the queue for the next write, in order, with each
/// job's reply and row count.
struct Pending<T> {
    rows: Vec<T>,
    replies: Vec<(oneshot::Sender<Result<()>>, usize)>,
}

impl<T> Pending<T> {
    fn new() -> Self {
        Self { rows: Vec::new(), replies: Vec::new() }
    }

    fn take(&mut self, rows: Vec<T>, done: oneshot::Sender<Result<()>>) {
        self.replies.push((done, rows.len()));
        self.rows.extend(rows);
    }

    /// Writes every row taken in one call of `write` and answers each job. If the
    /// batch rolls back as a whole, each job is written alone, so that one job's
    /// failure (a duplicate hash, say) fails only that job.
    async fn commit(&mut self, store: &dyn Store, write: Write<T>) {
        if self.replies.is_empty() {
            return;
        }
        match write(store, &self.rows).await {
            Ok(()) => {
                for (done, _) in self.replies.drain(..) {
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) if self.replies.len() == 1 => {
                if let Some((done, _)) = self.replies.pop() {
                    let _ = done.send(Err(error));
                }
            }
            Err(_) => {
                let mut start = 0;
                for (done, rows) in self.replies.drain(..) {
                    let _ = done.send(write(store, &self.rows[start..start + rows]).await);
                    start += rows;
                }
            }
        }
        self.rows.clear();
    }
}

/// The database behind the cache and the group commit. See the module documentation.
pub struct Front {
    inner: Arc<dyn Store>,
    cache: Cache,
    jobs: mpsc::Sender<Job>,
}

impl Front {
    /// Wraps `inner`; must be called within a Tokio runtime, which runs the writer task.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        // Bounded, so a flood of token requests waits here rather than growing memory.
        let (jobs, queue) = mpsc::channel(1024);
        tokio::spawn(write_batches(inner.clone(), queue));
        let cache = Cache::new();
        if let Some(changes) = inner.changes() {
            tokio::spawn(drop_on_change(cache.clone(), changes));
        }
        Self { inner, cache, jobs }
    }

    /// Reads through the cache: the cached value while fresh, else what `load` finds,
    /// which is then cached (unless a change raced it; see [`Cache::put`]).
    async fn cached<Q, K, V, F>(
        &self,
        map: fn(&Maps) -> &HashMap<K, Entry<V>>,
        map_mut: fn(&mut Maps) -> &mut HashMap<K, Entry<V>>,
        key: &Q,
        load: impl FnOnce() -> F,
    ) -> Result<Option<V>>
    where
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
        K: Eq + Hash + std::borrow::Borrow<Q>,
        V: Clone,
        F: std::future::Future<Output = Result<Option<V>>>,
    {
        let generation = match self.cache.get(map, key) {
            Ok(value) => return Ok(Some(value)),
            Err(generation) => generation,
        };
        let value = load().await?;
        if let Some(value) = &value {
            self.cache.put(map_mut, generation, key.to_owned(), value.clone());
        }
        Ok(value)
    }

    /// Runs a change, then drops the cache.
    async fn changing<T>(&self, change: impl std::future::Future<Output = T>) -> T {
        let _clear = ClearOnDrop(&self.cache);
        change.await
    }
}

/// Drops the cache whenever the database says something it may hold has changed: how a
/// change made by another instance reaches this one well before [`MAX_AGE`]. Ends when
/// the store stops sending (it was closed or dropped).
async fn drop_on_change(cache: Cache, mut changes: tokio::sync::broadcast::Receiver<()>) {
    // A lagging receiver missed signals: as good as a change.
    while let Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = changes.recv().await {
        cache.clear();
    }
}

/// The group-commit writer: takes the first waiting job, then every job already queued
/// behind it up to [`MAX_BATCH`] rows, and writes their tokens in one transaction and
/// their audit events in one statement after it.
async fn write_batches(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    let (mut tokens, mut events) = (Pending::new(), Pending::new());
    let take = |job: Job, tokens: &mut Pending<NewTokens>, events: &mut Pending<NewAuditEvent>| match job.rows {
        Rows::Tokens(rows) => tokens.take(rows, job.done),
        Rows::Events(rows) => events.take(rows, job.done),
    };
    while let Some(first) = queue.recv().await {
        take(first, &mut tokens, &mut events);
        // Let the requests already running on this worker reach the queue first: under
        // load batches grow, so fewer commits and WAL pages per token; when idle it
        // costs one reschedule.
        tokio::task::yield_now().await;
        while tokens.rows.len() + events.rows.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => take(job, &mut tokens, &mut events),
                Err(_) => break,
            }
        }
        tokens.commit(store.as_ref(), |store, rows| store.insert_tokens(rows)).await;
        events.commit(store.as_ref(), |store, rows| store.record_audit_events(rows)).await;
    }
}

impl Front {
    /// Queues `rows` for the group-commit writer and waits until they are committed.
    async fn through_writer(&self, rows: Rows) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the group-commit writer has stopped".into());
        self.jobs.send(Job { rows, done }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

impl Layer for Front {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
}

// Nothing of these is cached, and none of their changes touches a cached record.
impl PassThrough<dyn Connection> for Front {}
impl PassThrough<dyn Consents> for Front {}
impl PassThrough<dyn DeviceGrants> for Front {}
impl PassThrough<dyn SigningKeys> for Front {}
impl PassThrough<dyn Sessions> for Front {}
impl PassThrough<dyn Listings> for Front {}

#[async_trait]
impl Maintenance for Front {
    async fn migrate(&self) -> Result<()> {
        self.changing(self.inner.migrate()).await
    }
    async fn clear_tokens(&self, now: i64) -> Result<Cleared> {
        self.changing(self.inner.clear_tokens(now)).await
    }
}

#[async_trait]
impl Users for Front {
    async fn create_user(&self, user: &NewUser) -> Result<User> {
        self.inner.create_user(user).await
    }
    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.cached(|m| &m.users, |m| &mut m.users, &id, || self.inner.user_by_id(id)).await
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        self.inner.user_by_username(username).await
    }
    async fn link_user(&self, user: &LinkedUser<'_>) -> Result<()> {
        self.changing(self.inner.link_user(user)).await
    }
    async fn update_profile(&self, id: i64, update: &ProfileUpdate) -> Result<Option<User>> {
        self.changing(self.inner.update_profile(id, update)).await
    }
    async fn add_user_to_group(&self, user_id: i64, group: &str) -> Result<()> {
        self.changing(self.inner.add_user_to_group(user_id, group)).await
    }
    async fn user_groups(&self, user_id: i64) -> Result<Vec<String>> {
        let load = || async { self.inner.user_groups(user_id).await.map(Some) };
        Ok(self.cached(|m| &m.groups, |m| &mut m.groups, &user_id, load).await?.unwrap_or_default())
    }
    async fn set_last_login(&self, user_id: i64, now: i64) -> Result<()> {
        // Cached users carry last_login.
        self.changing(self.inner.set_last_login(user_id, now)).await
    }
    async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool> {
        self.changing(self.inner.set_user_active(user_id, active)).await
    }
    async fn reset_password(
        &self,
        user_id: i64,
        hash: &str,
        keep_session: Option<&TokenHash>,
        revoke_tokens_at: Option<i64>,
    ) -> Result<Option<u64>> {
        self.changing(self.inner.reset_password(user_id, hash, keep_session, revoke_tokens_at)).await
    }
    async fn set_user_groups(&self, user_id: i64, groups: &[String]) -> Result<bool> {
        self.changing(self.inner.set_user_groups(user_id, groups)).await
    }
}

#[async_trait]
impl Applications for Front {
    async fn create_application(
        &self,
        client_id: &str,
        client_secret_hash: Option<&TokenHash>,
        owner_id: Option<i64>,
        settings: &ApplicationSettings,
        now: i64,
    ) -> Result<Application> {
        self.inner.create_application(client_id, client_secret_hash, owner_id, settings, now).await
    }
    async fn application_by_client_id(&self, client_id: &str) -> Result<Option<Application>> {
        let load = || self.inner.application_by_client_id(client_id);
        self.cached(|m| &m.applications, |m| &mut m.applications, client_id, load).await
    }
    async fn application_by_id(&self, id: i64) -> Result<Option<Application>> {
        self.inner.application_by_id(id).await
    }
    async fn owned_application(&self, owner_id: i64, id: i64) -> Result<Option<Application>> {
        self.inner.owned_application(owner_id, id).await
    }
    async fn list_applications(&self) -> Result<Vec<Application>> {
        self.inner.list_applications().await
    }
    async fn applications_owned_by(&self, owner_id: i64) -> Result<Vec<Application>> {
        self.inner.applications_owned_by(owner_id).await
    }
    async fn update_application(
        &self,
        id: i64,
        settings: &ApplicationSettings,
        now: i64,
    ) -> Result<Option<Application>> {
        self.changing(self.inner.update_application(id, settings, now)).await
    }
    async fn update_owned_application(
        &self,
        owner_id: i64,
        id: i64,
        settings: &ApplicationSettings,
        new_secret: Option<&TokenHash>,
        now: i64,
    ) -> Result<Option<Application>> {
        self.changing(self.inner.update_owned_application(owner_id, id, settings, new_secret, now)).await
    }
    async fn replace_client_secret(&self, owner_id: i64, id: i64, hash: &TokenHash, now: i64) -> Result<bool> {
        self.changing(self.inner.replace_client_secret(owner_id, id, hash, now)).await
    }
    async fn delete_application(&self, client_id: &str) -> Result<bool> {
        self.changing(self.inner.delete_application(client_id)).await
    }
    async fn delete_owned_application(&self, owner_id: i64, id: i64) -> Result<bool> {
        self.changing(self.inner.delete_owned_application(owner_id, id)).await
    }
}

#[async_trait]
impl Tokens for Front {
    async fn insert_tokens(&self, batch: &[NewTokens]) -> Result<()> {
        self.through_writer(Rows::Tokens(batch.to_vec())).await
    }
    async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>> {
        self.cached(|m| &m.tokens, |m| &mut m.tokens, hash, || self.inner.access_token(hash)).await
    }
    async fn access_token_uncached(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>> {
        if self.inner.shared() {
            self.inner.access_token(hash).await
        } else {
            // No other server writes here: the cache, dropped at every change this
            // process makes, is as current as the database (a command line beside it
            // shows within MAX_AGE).
            self.access_token(hash).await
        }
    }
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>> {
        self.inner.refresh_token(hash).await
    }
    async fn exchange_refresh_token(&self, exchange: &RefreshExchange) -> Result<RefreshOutcome> {
        self.changing(self.inner.exchange_refresh_token(exchange)).await
    }
    async fn revoke_access_token(&self, id: i64, now: i64) -> Result<()> {
        self.changing(self.inner.revoke_access_token(id, now)).await
    }
    async fn revoke_refresh_family(&self, family: &str, now: i64) -> Result<()> {
        self.changing(self.inner.revoke_refresh_family(family, now)).await
    }
    async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64> {
        self.changing(self.inner.revoke_user_tokens(user_id, application_id, now)).await
    }
    async fn revoke_user_grants(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64> {
        self.changing(self.inner.revoke_user_grants(user_id, application_id, now)).await
    }
}

#[async_trait]
impl Codes for Front {
    async fn insert_code(&self, code: &NewCode) -> Result<()> {
        self.inner.insert_code(code).await
    }
    async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>> {
        self.inner.code(hash).await
    }
    async fn redeem_code(&self, code_id: i64, now: i64, tokens: &NewTokens) -> Result<RedeemOutcome> {
        // A replayed code revokes what it bought.
        self.changing(self.inner.redeem_code(code_id, now, tokens)).await
    }
}

#[async_trait]
impl AuditLog for Front {
    async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()> {
        // Through the group commit, so that an event per token issued adds a statement
        // per batch rather than a transaction per token.
        self.through_writer(Rows::Events(events.to_vec())).await
    }
    async fn list_audit_events(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>> {
        self.inner.list_audit_events(filter, limit).await
    }
}
