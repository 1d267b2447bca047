//! Access tokens and refresh tokens, and the refresh families that tie each chain of
//! rotated refresh tokens (and the access tokens issued with them) to one grant. The
//! exchange rule is [`super::refresh`]'s.

use async_trait::async_trait;

use super::Result;
use crate::crypto::TokenHash;

/// An access token as validation needs it: joined with its client and user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenRecord {
    /// The row's id.
    pub id: i64,
    /// The application it was issued to.
    pub application_id: i64,
    /// That application's client identifier.
    pub client_id: String,
    /// The user it acts for; `None` for a client's own token (client credentials).
    pub user_id: Option<i64>,
    /// That user's username.
    pub username: Option<String>,
    /// Whether the user may still act; `None` for tokens without a user.
    pub user_active: Option<bool>,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The family of the refresh token issued with it, if any: revoking the family
    /// revokes it too.
    pub refresh_family: Option<String>,
    /// The resources it is bound to (RFC 8707), space-separated; empty: none named.
    pub audience: String,
}

/// Whether a token works, and if not, why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Works.
    Live,
    /// Past its expiry.
    Expired,
    /// Revoked (RFC 7009), whether or not it has also expired.
    Revoked,
    /// Unexpired and unrevoked, but its user is deactivated: refused while they are.
    UserInactive,
}

impl TokenStatus {
    /// How the admin pages name the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UserInactive => "user inactive",
        }
    }
}

impl AccessTokenRecord {
    /// Not revoked, not expired (RFC 6749 §1.4 "expires_in" counted from issue), and
    /// its user, if any, still active.
    pub fn status(&self, now: i64) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else if self.user_active == Some(false) {
            TokenStatus::UserInactive
        } else {
            TokenStatus::Live
        }
    }

    /// The one rule every token check uses.
    pub fn is_valid(&self, now: i64) -> bool {
        self.status(now) == TokenStatus::Live
    }
}

/// A refresh token as the token endpoint needs it (RFC 6749 §6).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    /// The row's id.
    pub id: i64,
    /// The application it was issued to.
    pub application_id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The access token issued with it, while that row exists.
    pub access_token_id: Option<i64>,
    /// Every refresh token descended from one original grant shares a family; reuse of
    /// a rotated-out member revokes the whole family.
    pub family: String,
    /// The token it was rotated from, if any.
    pub parent_id: Option<i64>,
    /// The grant's scope, space-separated: what a refresh may ask for at most (RFC 6749
    /// §6).
    pub scope: String,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// The resources the grant was authorized for (RFC 8707), space-separated: what a
    /// refresh may ask for at most. Empty: none named.
    pub resource: String,
    /// When this token was exchanged for a successor (rotation).
    pub rotated_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// New tokens to store in one transaction: an access token and, optionally, a refresh
/// token issued with it.
#[derive(Debug, Clone)]
pub struct NewTokens {
    /// The application they are issued to.
    pub application_id: i64,
    /// The user they act for; `None` for a client's own token.
    pub user_id: Option<i64>,
    /// The access token's scope.
    pub scope: String,
    /// The resources the access token is bound to (RFC 8707), space-separated; empty:
    /// none named.
    pub audience: String,
    /// When they are issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// The hash of the access token's value.
    pub access_hash: TokenHash,
    /// When the access token stops working.
    pub access_expires_at: i64,
    /// The authorization code these tokens came from, so a replayed code can revoke them.
    pub code_id: Option<i64>,
    /// The refresh token issued with it, if any.
    pub refresh: Option<NewRefresh>,
}

/// A refresh token to store with the access token of [`NewTokens`].
#[derive(Debug, Clone)]
pub struct NewRefresh {
    /// The hash of the refresh token's value.
    pub hash: TokenHash,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// Its family: a new random one for a fresh grant (see
    /// [`RefreshTokenRecord::family`]).
    pub family: String,
    /// The grant's scope, which a refresh may narrow but never widen (RFC 6749 §6).
    pub scope: String,
    /// The grant's resources (RFC 8707), which a refresh may likewise narrow.
    pub resource: String,
}

/// A refresh token exchange, checked and applied in one transaction.
#[derive(Debug, Clone)]
pub struct RefreshExchange {
    /// The presented refresh token.
    pub old_id: i64,
    /// The time of the exchange, seconds since the Unix epoch.
    pub now: i64,
    /// `oauth2.refresh_token_grace_period_seconds`: how long a rotated-out token may
    /// still be retried.
    pub grace_seconds: i64,
    /// Issue a successor refresh token (rotation) or keep the old one.
    pub rotate: bool,
    /// The new access token, and the successor when rotating (its family is ignored:
    /// it joins the old token's).
    pub new: NewTokens,
}

/// What became of a [`RefreshExchange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The new tokens are stored.
    Issued,
    /// The token had been rotated out: its whole family is now revoked.
    Reused,
    /// The token was revoked or expired by the time the transaction ran.
    Dead,
}

/// Tokens: issuing, finding, exchanging and revoking them. Times are seconds since the
/// Unix epoch, and tokens are found by their [`TokenHash`], never their value.
#[async_trait]
pub trait Tokens: Send + Sync + 'static {
    /// Stores each item's access token and, if it has one, its refresh token, all in
    /// one transaction. The server's token endpoint reaches this through
    /// [`Front`](super::front::Front), which gathers concurrent requests into one batch.
    async fn insert_tokens(&self, batch: &[NewTokens]) -> Result<()>;
    /// [`Tokens::insert_tokens`] for one item.
    async fn insert_token(&self, tokens: &NewTokens) -> Result<()> {
        self.insert_tokens(std::slice::from_ref(tokens)).await
    }
    /// The access token with this hash, whatever its state: check it with
    /// [`AccessTokenRecord::is_valid`].
    async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>>;
    /// [`Tokens::access_token`] as the database has it now, past any cache, when other
    /// processes share it ([`Connection::shared`](super::Connection::shared)): for
    /// answers that must reflect a revocation made by another instance at once
    /// (introspection).
    async fn access_token_uncached(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>> {
        self.access_token(hash).await
    }
    /// The refresh token with this hash, whatever its state.
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>>;
    /// Checks the refresh token again under a lock and, if it still may be used,
    /// issues the new tokens: exactly one of any number of concurrent exchanges of the
    /// same token wins.
    async fn exchange_refresh_token(&self, exchange: &RefreshExchange) -> Result<RefreshOutcome>;
    /// Revokes one access token (RFC 7009), unless it already is.
    async fn revoke_access_token(&self, id: i64, now: i64) -> Result<()>;
    /// Revokes every refresh token of the family and every access token issued with one.
    async fn revoke_refresh_family(&self, family: &str, now: i64) -> Result<()>;
    /// Revokes the user's access, refresh and ID tokens for the application in one
    /// transaction, keeping their consent (OpenID Connect logout). Returns how many
    /// access and refresh tokens it revoked.
    async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;
    /// Takes back everything `user_id` gave `application_id`, in one transaction:
    /// revokes their access and refresh tokens (every refresh family of theirs, and
    /// the ID tokens), drops unused authorization codes and approved device grants,
    /// and deletes the consent, so the next authorization asks again. Returns how many
    /// tokens and consents were taken back.
    async fn revoke_user_grants(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64>;
}

/// The columns of a [`RefreshTokenRecord`], in its field order.
macro_rules! refresh_columns {
    () => {
        "id, application_id, user_id, access_token_id, family, parent_id, scope, created_at, expires_at, resource, rotated_at, revoked_at"
    };
}

pub(super) const ACCESS_TOKEN_BY_HASH: &str = "\
    SELECT t.id, t.application_id, a.client_id, t.user_id, u.username, u.is_active AS user_active, \
           t.scope, t.created_at, t.expires_at, t.revoked_at, t.refresh_family, t.audience \
    FROM access_tokens t \
    JOIN applications a ON a.id = t.application_id \
    LEFT JOIN users u ON u.id = t.user_id \
    WHERE t.token_hash = $1";

/// Implements [`Tokens`] for a backend (see the module documentation of `store`), with
/// the statements the other aggregates' transactions share: writing new tokens and
/// revoking a family or a user's tokens.
macro_rules! tokens_sql {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Inserts access tokens and, where asked, the refresh tokens issued with them:
            /// one multi-row statement per table, so a batch costs a few round trips
            /// whatever its size (group commit, see `front`). `lineage` is the family and
            /// parent of a rotation, which then covers every row.
            async fn write_tokens(
                conn: &mut <$db as sqlx::Database>::Connection,
                batch: &[NewTokens],
                lineage: Option<(&str, i64)>,
            ) -> Result<()> {
                if batch.is_empty() {
                    return Ok(());
                }
                fn family<'a>(t: &'a NewTokens, lineage: Option<(&'a str, i64)>) -> Option<&'a str> {
                    lineage.map(|(family, _)| family).or(t.refresh.as_ref().map(|r| r.family.as_str()))
                }
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO access_tokens \
                       (token_hash, application_id, user_id, scope, created_at, expires_at, code_id, refresh_family, audience) ",
                );
                insert.push_values(batch, |mut row, t| {
                    row.push_bind(t.access_hash.as_bytes())
                        .push_bind(t.application_id)
                        .push_bind(t.user_id)
                        .push_bind(t.scope.as_str())
                        .push_bind(t.created_at)
                        .push_bind(t.access_expires_at)
                        .push_bind(t.code_id)
                        .push_bind(family(t, lineage))
                        .push_bind(t.audience.as_str());
                });
                insert.push(" RETURNING id, token_hash");
                let inserted: Vec<(i64, Vec<u8>)> = insert
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, "access token"))?;
                // RETURNING rows come in no promised order: match them up by hash.
                let access_id = |t: &NewTokens| {
                    inserted
                        .iter()
                        .find(|(_, hash)| hash.as_slice() == t.access_hash.as_bytes())
                        .map(|(id, _)| *id)
                        .ok_or_else(|| StoreError::Corrupt("an inserted access token was not returned".into()))
                };
                let mut refreshes = Vec::new();
                for t in batch {
                    if let Some(refresh) = &t.refresh {
                        refreshes.push((t, refresh, access_id(t)?));
                    } else if let Some((_, parent)) = lineage {
                        // Rotation is off: the surviving refresh token now covers this one.
                        sqlx::query("UPDATE refresh_tokens SET access_token_id = $1 WHERE id = $2")
                            .bind(access_id(t)?)
                            .bind(parent)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                if refreshes.is_empty() {
                    return Ok(());
                }
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO refresh_tokens \
                       (token_hash, application_id, user_id, access_token_id, family, parent_id, scope, \
                        created_at, expires_at, code_id, resource) ",
                );
                insert.push_values(&refreshes, |mut row, (t, refresh, access_id)| {
                    row.push_bind(refresh.hash.as_bytes())
                        .push_bind(t.application_id)
                        .push_bind(t.user_id)
                        .push_bind(*access_id)
                        .push_bind(family(t, lineage))
                        .push_bind(lineage.map(|(_, parent)| parent))
                        .push_bind(refresh.scope.as_str())
                        .push_bind(t.created_at)
                        .push_bind(refresh.expires_at)
                        .push_bind(t.code_id)
                        .push_bind(refresh.resource.as_str());
                });
                insert.build().execute(&mut *conn).await.map_err(|e| StoreError::from_sqlx(e, "refresh token"))?;
                Ok(())
            }

            /// Revokes the user's access, refresh and ID tokens, for one application or
            /// (`None`) for every one; how many access and refresh tokens that was.
            async fn revoke_user_tokens_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                application_id: Option<i64>,
                now: i64,
            ) -> Result<u64> {
                // Every member of a refresh family shares its user and application, so
                // this revokes each of the user's families whole.
                let mut counted = 0;
                for (table, count) in [("refresh_tokens", true), ("access_tokens", true), ("id_tokens", false)] {
                    let one_application = if application_id.is_some() { " AND application_id = $3" } else { "" };
                    let sql = format!(
                        "UPDATE {table} SET revoked_at = $2 WHERE user_id = $1{one_application} AND revoked_at IS NULL"
                    );
                    let query = sqlx::query(&sql).bind(user_id).bind(now);
                    let query = match application_id {
                        Some(id) => query.bind(id),
                        None => query,
                    };
                    let revoked = query.execute(&mut *conn).await?.rows_affected();
                    if count {
                        counted += revoked;
                    }
                }
                Ok(counted)
            }

            /// Revokes every access, refresh and ID token of the user, for every
            /// application, and takes back what would still buy new ones (unused codes,
            /// approved device grants not yet collected); how many access and refresh
            /// tokens that was. Consents stay: they are the user's choices, not credentials.
            async fn revoke_every_user_token_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                now: i64,
            ) -> Result<u64> {
                let revoked = Self::revoke_user_tokens_in(&mut *conn, user_id, None, now).await?;
                sqlx::query("DELETE FROM authorization_codes WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE device_grants SET status = $2 WHERE user_id = $1 AND status = $3")
                    .bind(user_id)
                    .bind($crate::proto::DeviceStatus::Denied.as_str())
                    .bind($crate::proto::DeviceStatus::Approved.as_str())
                    .execute(&mut *conn)
                    .await?;
                Ok(revoked)
            }

            async fn revoke_family_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                family: &str,
                now: i64,
            ) -> Result<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL")
                    .bind(family)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE refresh_family = $1 AND revoked_at IS NULL")
                    .bind(family)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl Tokens for $store {
            async fn insert_tokens(&self, batch: &[NewTokens]) -> Result<()> {
                if batch.iter().all(|t| t.refresh.is_none()) {
                    // One statement is its own transaction: no BEGIN and COMMIT round trips.
                    let mut conn = self.writer().acquire().await?;
                    return Self::write_tokens(&mut conn, batch, None).await;
                }
                let mut tx = self.writer().begin().await?;
                Self::write_tokens(&mut tx, batch, None).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>> {
                Ok(sqlx::query_as($crate::store::tokens::ACCESS_TOKEN_BY_HASH)
                    .bind(hash.as_bytes())
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::tokens::refresh_columns!(),
                    " FROM refresh_tokens WHERE token_hash = $1"
                ))
                .bind(hash.as_bytes())
                .fetch_optional(self.reader())
                .await?)
            }

            async fn exchange_refresh_token(&self, x: &RefreshExchange) -> Result<RefreshOutcome> {
                use $crate::store::refresh::{exchange_verdict, RefreshVerdict};
                let mut tx = self.writer().begin().await?;
                // Take the row lock first (a no-op write), so concurrent exchanges of one
                // token run one after another and each sees what the previous one did.
                sqlx::query("UPDATE refresh_tokens SET revoked_at = revoked_at WHERE id = $1")
                    .bind(x.old_id)
                    .execute(&mut *tx)
                    .await?;
                let old: Option<RefreshTokenRecord> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::tokens::refresh_columns!(),
                    " FROM refresh_tokens WHERE id = $1"
                ))
                .bind(x.old_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(old) = old else { return Ok(RefreshOutcome::Dead) };
                // Only a rotated-out token has successors to ask about.
                let successor_exchanged = if old.rotated_at.is_some() {
                    let exchanged: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM refresh_tokens WHERE parent_id = $1 AND rotated_at IS NOT NULL",
                    )
                    .bind(old.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    exchanged > 0
                } else {
                    false
                };
                match exchange_verdict(&old, x.now, x.grace_seconds, successor_exchanged) {
                    RefreshVerdict::Dead => return Ok(RefreshOutcome::Dead),
                    RefreshVerdict::Reuse => {
                        Self::revoke_family_in(&mut tx, &old.family, x.now).await?;
                        tx.commit().await?;
                        return Ok(RefreshOutcome::Reused);
                    }
                    RefreshVerdict::GraceRetry => {
                        // The successor the client never received is replaced.
                        sqlx::query(
                            "UPDATE access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND id IN \
                               (SELECT access_token_id FROM refresh_tokens WHERE parent_id = $1)",
                        )
                        .bind(old.id)
                        .bind(x.now)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE parent_id = $1 AND revoked_at IS NULL")
                            .bind(old.id)
                            .bind(x.now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    RefreshVerdict::Exchange => {}
                }
                // The access token issued with the old refresh token is superseded.
                if let Some(access_id) = old.access_token_id {
                    sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                        .bind(access_id)
                        .bind(x.now)
                        .execute(&mut *tx)
                        .await?;
                }
                if x.rotate {
                    sqlx::query("UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, $2) WHERE id = $1")
                        .bind(old.id)
                        .bind(x.now)
                        .execute(&mut *tx)
                        .await?;
                    Self::write_tokens(&mut tx, std::slice::from_ref(&x.new), Some((&old.family, old.id))).await?;
                } else {
                    let mut new = x.new.clone();
                    new.refresh = None;
                    Self::write_tokens(&mut tx, std::slice::from_ref(&new), Some((&old.family, old.id))).await?;
                }
                tx.commit().await?;
                Ok(RefreshOutcome::Issued)
            }

            async fn revoke_access_token(&self, id: i64, now: i64) -> Result<()> {
                sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn revoke_refresh_family(&self, family: &str, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                Self::revoke_family_in(&mut tx, family, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_user_tokens(&self, user_id: i64, application_id: i64, now: i64) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                let tokens = Self::revoke_user_tokens_in(&mut tx, user_id, Some(application_id), now).await?;
                tx.commit().await?;
                Ok(tokens)
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
        }
    };
}

pub(super) use {refresh_columns, tokens_sql};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_status() {
        let token = AccessTokenRecord {
            id: 1,
            application_id: 1,
            client_id: "c".into(),
            user_id: Some(1),
            username: Some("alice".into()),
            user_active: Some(true),
            scope: "read".into(),
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
            refresh_family: None,
            audience: String::new(),
        };
        assert_eq!(token.status(99), TokenStatus::Live);
        assert!(token.is_valid(99) && !token.is_valid(100));
        assert_eq!(token.status(100), TokenStatus::Expired);
        assert_eq!(AccessTokenRecord { revoked_at: Some(5), ..token.clone() }.status(0), TokenStatus::Revoked);
        assert_eq!(AccessTokenRecord { user_active: Some(false), ..token }.status(0), TokenStatus::UserInactive);
    }
}
