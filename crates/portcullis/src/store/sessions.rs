//! Browser sessions, and the places that throttle login attempts.

use async_trait::async_trait;

use super::Result;
use crate::crypto::TokenHash;

/// A browser session. The cookie holds a random id; the store keeps its hash.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The hash of the id the cookie carries.
    pub id_hash: TokenHash,
    /// The logged-in user; `None` for an anonymous session that only carries the login
    /// form's CSRF token.
    pub user_id: Option<i64>,
    /// The token every form of the session must echo.
    pub csrf_token: String,
    /// When the user entered their password (OpenID Connect Core §2 `auth_time`).
    pub auth_time: Option<i64>,
    /// When the session starts, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it ends.
    pub expires_at: i64,
}

/// A stored browser session (see [`NewSession`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    /// The logged-in user; `None` for an anonymous session.
    pub user_id: Option<i64>,
    /// The token every form of the session must echo.
    pub csrf_token: String,
    /// When the user entered their password (OpenID Connect Core §2 `auth_time`).
    pub auth_time: Option<i64>,
    /// When the session ends, seconds since the Unix epoch.
    pub expires_at: i64,
}

/// Sessions and login throttling.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Stores a browser session.
    async fn create_session(&self, session: &NewSession) -> Result<()>;
    /// The session, unless it has expired.
    async fn session(&self, id_hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>>;
    /// Ends a browser session (logout).
    async fn delete_session(&self, id_hash: &TokenHash) -> Result<()>;
    /// Takes a place for one attempt (a login, a typed device code) under each of
    /// `limits`, a throttle key and the most attempts it may have at or after `since`,
    /// before the attempt is checked. Atomic across every instance: either each key is
    /// under its limit and gets a row at `now` (their ids returned), or none is touched
    /// (`None`). A place stays, counted as a failure, unless
    /// [`Sessions::release_login_attempts`] gives it back; so concurrent guesses can
    /// never all be checked against a count that none of them has raised yet.
    async fn reserve_login_attempt(&self, limits: &[(&str, u32)], since: i64, now: i64) -> Result<Option<Vec<i64>>>;
    /// Gives back the places [`Sessions::reserve_login_attempt`] took, for an attempt
    /// that succeeded.
    async fn release_login_attempts(&self, ids: &[i64]) -> Result<()>;
    /// Failures for `key` at or after `since`.
    async fn login_failures(&self, key: &str, since: i64) -> Result<i64>;
    /// Forgets the failures recorded under `key` (after a successful login).
    async fn clear_login_failures(&self, key: &str) -> Result<()>;
}

#[async_trait]
impl<L: super::PassThrough<dyn Sessions>> Sessions for L {
    async fn create_session(&self, session: &NewSession) -> Result<()> {
        self.inner().create_session(session).await
    }
    async fn session(&self, id_hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>> {
        self.inner().session(id_hash, now).await
    }
    async fn delete_session(&self, id_hash: &TokenHash) -> Result<()> {
        self.inner().delete_session(id_hash).await
    }
    async fn reserve_login_attempt(&self, limits: &[(&str, u32)], since: i64, now: i64) -> Result<Option<Vec<i64>>> {
        self.inner().reserve_login_attempt(limits, since, now).await
    }
    async fn release_login_attempts(&self, ids: &[i64]) -> Result<()> {
        self.inner().release_login_attempts(ids).await
    }
    async fn login_failures(&self, key: &str, since: i64) -> Result<i64> {
        self.inner().login_failures(key, since).await
    }
    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        self.inner().clear_login_failures(key).await
    }
}

/// Implements [`Sessions`] for a backend (see the module documentation of `store`).
macro_rules! sessions_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Sessions for $store {
            async fn create_session(&self, s: &NewSession) -> Result<()> {
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf_token, auth_time, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $5, $6)",
                )
                .bind(s.id_hash.as_bytes())
                .bind(s.user_id)
                .bind(&s.csrf_token)
                .bind(s.auth_time)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "session"))?;
                Ok(())
            }

            async fn session(&self, id_hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>> {
                Ok(sqlx::query_as(
                    "SELECT user_id, csrf_token, auth_time, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash.as_bytes())
                .bind(now)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn delete_session(&self, id_hash: &TokenHash) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash.as_bytes())
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn reserve_login_attempt(
                &self,
                limits: &[(&str, u32)],
                since: i64,
                now: i64,
            ) -> Result<Option<Vec<i64>>> {
                let keys: Vec<&str> = limits.iter().map(|(key, _)| *key).collect();
                // Count and insert under a lock on the keys (the backend's): a count
                // read outside it lets concurrent attempts all pass the same count.
                let mut tx = self.begin_locked(&keys).await?;
                for (key, limit) in limits {
                    let used: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM login_failures WHERE throttle_key = $1 AND failed_at >= $2",
                    )
                    .bind(key)
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await?;
                    if used >= i64::from(*limit) {
                        // Dropped, the transaction rolls back: nothing was written.
                        return Ok(None);
                    }
                }
                let mut ids = Vec::with_capacity(limits.len());
                for key in keys {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO login_failures (throttle_key, failed_at) VALUES ($1, $2) RETURNING id",
                    )
                    .bind(key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    ids.push(id);
                }
                tx.commit().await?;
                Ok(Some(ids))
            }

            async fn release_login_attempts(&self, ids: &[i64]) -> Result<()> {
                for id in ids {
                    sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(self.writer()).await?;
                }
                Ok(())
            }

            async fn login_failures(&self, key: &str, since: i64) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE throttle_key = $1 AND failed_at >= $2")
                    .bind(key)
                    .bind(since)
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn clear_login_failures(&self, key: &str) -> Result<()> {
                sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1")
                    .bind(key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    };
}

pub(super) use sessions_sql;
