//! What users have given applications: their standing consent, and the grants they can
//! see and take back on `/o/authorized_tokens/`.

use async_trait::async_trait;
use portcullis_axum::ScopeSet;

use super::{Result, StoreError};

/// An application a user has let act for them: it holds live tokens of theirs, or
/// their standing consent, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedApplication {
    /// The application's row id.
    pub application_id: i64,
    /// Its client identifier.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Every scope the user's live tokens and consent for it cover.
    pub scope: ScopeSet,
    /// When the oldest live token or the consent was given.
    pub first_granted_at: i64,
    /// When the newest live token was issued or the consent last given.
    pub last_granted_at: i64,
}

/// Consents and grants: what a user agreed to give each application, and taking it
/// back.
#[async_trait]
pub trait Consents: Send + Sync + 'static {
    /// The scope the user has agreed to give the application, if any.
    async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<String>>;
    /// Records that the user agreed to give the application `scope` (space-separated),
    /// replacing what they agreed to before.
    async fn save_consent(&self, user_id: i64, application_id: i64, scope: &str, now: i64) -> Result<()>;
    /// The applications `user_id` has let act for them at `now`: those holding a live
    /// (unrevoked, unexpired, not rotated-out) access or refresh token of theirs, or
    /// their consent. Ordered by name.
    async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>>;
    /// Takes back everything `user_id` gave `application_id`, in one transaction:
    /// revokes their access and refresh tokens (every refresh family of theirs, and
    /// the ID tokens), drops unused authorization codes and approved device grants,
    /// and deletes the consent, so the next authorization asks again. Returns how many
    /// tokens and consents were taken back.
    async fn revoke_user_grants(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;
    /// Revokes the user's access, refresh and ID tokens for the application in one
    /// transaction, keeping their consent (OpenID Connect logout). Returns how many
    /// access and refresh tokens it revoked.
    async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;
}

/// One application and scope, with the times the grants of that scope span: what the
/// query returns before rows of one application are merged.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuthorizedRow {
    pub application_id: i64,
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub first_at: i64,
    pub last_at: i64,
}

/// Merges rows (ordered by application) into one entry per application, in order.
pub(super) fn merge_authorized(rows: Vec<AuthorizedRow>) -> Result<Vec<AuthorizedApplication>> {
    let mut out: Vec<AuthorizedApplication> = Vec::new();
    for row in rows {
        let scope = ScopeSet::parse(&row.scope)
            .map_err(|e| StoreError::Corrupt(format!("grant for application {}: {e}", row.client_id)))?;
        match out.last_mut() {
            Some(last) if last.application_id == row.application_id => {
                last.scope = last.scope.union(&scope);
                last.first_granted_at = last.first_granted_at.min(row.first_at);
                last.last_granted_at = last.last_granted_at.max(row.last_at);
            }
            _ => out.push(AuthorizedApplication {
                application_id: row.application_id,
                client_id: row.client_id,
                name: row.name,
                scope,
                first_granted_at: row.first_at,
                last_granted_at: row.last_at,
            }),
        }
    }
    Ok(out)
}

/// Implements [`Consents`] for a backend (see the module documentation of `store`).
macro_rules! consents_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Consents for $store {
            async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND application_id = $2")
                    .bind(user_id)
                    .bind(application_id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn save_consent(&self, user_id: i64, application_id: i64, scope: &str, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO consents (user_id, application_id, scope, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (user_id, application_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
                )
                .bind(user_id)
                .bind(application_id)
                .bind(scope)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>> {
                // One row per application and scope string; the rows of one application
                // are merged in Rust, since scope unions are not portable SQL.
                let rows: Vec<$crate::store::consents::AuthorizedRow> = sqlx::query_as(
                    "SELECT a.id AS application_id, a.client_id, a.name, g.scope, \
                       MIN(g.first_at) AS first_at, MAX(g.last_at) AS last_at \
                     FROM ( \
                       SELECT application_id, scope, created_at AS first_at, created_at AS last_at \
                         FROM access_tokens \
                         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                       UNION ALL \
                       SELECT application_id, scope, created_at, created_at FROM refresh_tokens \
                         WHERE user_id = $1 AND revoked_at IS NULL AND rotated_at IS NULL \
                           AND (expires_at IS NULL OR expires_at > $2) \
                       UNION ALL \
                       SELECT application_id, scope, created_at, updated_at FROM consents WHERE user_id = $1 \
                     ) g JOIN applications a ON a.id = g.application_id \
                     GROUP BY a.id, a.client_id, a.name, g.scope \
                     ORDER BY a.name, a.id",
                )
                .bind(user_id)
                .bind(now)
                .fetch_all(self.reader())
                .await?;
                $crate::store::consents::merge_authorized(rows)
            }

            async fn revoke_user_grants(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                let tokens = Self::revoke_user_tokens_in(&mut tx, user_id, Some(application_id), now).await?;
                // A code not yet exchanged, or a device grant approved but not yet
                // collected, would otherwise still buy new tokens.
                sqlx::query("DELETE FROM authorization_codes WHERE user_id = $1 AND application_id = $2 AND used_at IS NULL")
                    .bind(user_id)
                    .bind(application_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE device_grants SET status = $3 WHERE user_id = $1 AND application_id = $2 AND status = $4",
                )
                .bind(user_id)
                .bind(application_id)
                .bind($crate::proto::DeviceStatus::Denied.as_str())
                .bind($crate::proto::DeviceStatus::Approved.as_str())
                .execute(&mut *tx)
                .await?;
                let consents = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND application_id = $2")
                    .bind(user_id)
                    .bind(application_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(tokens + consents)
            }

            async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                let tokens = Self::revoke_user_tokens_in(&mut tx, user_id, Some(application_id), now).await?;
                tx.commit().await?;
                Ok(tokens)
            }
        }
    };
}

pub(super) use consents_sql;
