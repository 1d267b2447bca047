//! The database's schema, and sweeping out what has expired.

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

/// Migrations and the sweep of expired rows.
#[async_trait]
pub trait Maintenance: Send + Sync + 'static {
    /// Brings the schema up to date.
    async fn migrate(&self) -> Result<()>;
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
