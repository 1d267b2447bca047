//! What users have given applications: their standing consent, and the applications
//! they see on `/o/authorized_tokens/`. Taking a grant back revokes tokens too, so it
//! is [`Tokens`](super::Tokens)' `revoke_user_grants`.

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

/// A user's standing consent for one application.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Consent {
    /// The scopes agreed to, space-separated.
    pub scope: String,
    /// The resources (RFC 8707) the user saw named, space-separated; empty: any
    /// resource, for consent given to a request that named none.
    pub resource: String,
}

/// Consents: what a user agreed to give each application, and the applications that
/// act for them.
#[async_trait]
pub trait Consents: Send + Sync + 'static {
    /// What the user has agreed to give the application, if anything.
    async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<Consent>>;
    /// Records that the user agreed to give the application `consent`, replacing what
    /// they agreed to before.
    async fn save_consent(&self, user_id: i64, application_id: i64, consent: &Consent, now: i64) -> Result<()>;
    /// The applications `user_id` has let act for them at `now`: those holding a live
    /// (unrevoked, unexpired, not rotated-out) access or refresh token of theirs, or
    /// their consent. Ordered by name.
    async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>>;
}

#[async_trait]
impl<L: super::PassThrough<dyn Consents>> Consents for L {
    async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<Consent>> {
        self.inner().consent(user_id, application_id).await
    }
    async fn save_consent(&self, user_id: i64, application_id: i64, consent: &Consent, now: i64) -> Result<()> {
        self.inner().save_consent(user_id, application_id, consent, now).await
    }
    async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>> {
        self.inner().authorized_applications(user_id, now).await
    }
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
            async fn consent(&self, user_id: i64, application_id: i64) -> Result<Option<Consent>> {
                Ok(sqlx::query_as("SELECT scope, resource FROM consents WHERE user_id = $1 AND application_id = $2")
                    .bind(user_id)
                    .bind(application_id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn save_consent(&self, user_id: i64, application_id: i64, consent: &Consent, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO consents (user_id, application_id, scope, created_at, updated_at, resource) \
                     VALUES ($1, $2, $3, $4, $4, $5) \
                     ON CONFLICT (user_id, application_id) DO UPDATE SET scope = excluded.scope, \
                       resource = excluded.resource, updated_at = excluded.updated_at",
                )
                .bind(user_id)
                .bind(application_id)
                .bind(&consent.scope)
                .bind(now)
                .bind(&consent.resource)
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
        }
    };
}

pub(super) use consents_sql;
