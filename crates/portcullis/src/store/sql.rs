//! The SQL both backends share. It is written once, here, and stamped out for each
//! backend's concrete pool type by `sql_store!`, so every query is type-checked against
//! one concrete driver and SQLite and PostgreSQL can never drift apart. Placeholders are
//! `$N`, which both drivers accept; only portable SQL goes here (`RETURNING`,
//! `ON CONFLICT`, no backend-specific functions).

use portcullis_axum::ScopeSet;

use super::{split_list, Application, StoreError};
use crate::crypto::TokenHash;

macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, password_hash, is_active, is_staff, is_superuser, date_joined, last_login"
    };
}

macro_rules! application_columns {
    () => {
        "id, client_id, client_secret_hash, name, client_type, grant_types, redirect_uris, \
         post_logout_redirect_uris, allowed_origins, allowed_scopes, skip_authorization, algorithm, \
         access_token_format, owner_id, created_at, updated_at"
    };
}

macro_rules! refresh_columns {
    () => {
        "id, application_id, user_id, access_token_id, family, parent_id, scope, created_at, expires_at, rotated_at, revoked_at"
    };
}

macro_rules! device_grant_select {
    () => {
        "SELECT g.id, g.application_id, a.client_id, a.name AS client_name, g.scope, g.status, g.user_id, \
                g.interval_seconds, g.last_polled_at, g.created_at, g.expires_at \
         FROM device_grants g JOIN applications a ON a.id = g.application_id"
    };
}

pub(super) use {application_columns, device_grant_select, refresh_columns, user_columns};

pub(super) const ACCESS_TOKEN_BY_HASH: &str = "\
    SELECT t.id, t.application_id, a.client_id, t.user_id, u.username, u.is_active AS user_active, \
           t.scope, t.created_at, t.expires_at, t.revoked_at, t.refresh_family \
    FROM access_tokens t \
    JOIN applications a ON a.id = t.application_id \
    LEFT JOIN users u ON u.id = t.user_id \
    WHERE t.token_hash = $1";

/// An `applications` row as stored, before its text columns are parsed.
#[derive(sqlx::FromRow)]
pub(super) struct ApplicationRow {
    id: i64,
    client_id: String,
    client_secret_hash: Option<Vec<u8>>,
    name: String,
    client_type: String,
    grant_types: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_origins: String,
    allowed_scopes: Option<String>,
    skip_authorization: bool,
    algorithm: String,
    access_token_format: String,
    owner_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;

    fn try_from(row: ApplicationRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("application {}: {what}", row.client_id));
        let client_secret_hash = match &row.client_secret_hash {
            Some(bytes) => Some(TokenHash::from_slice(bytes).ok_or_else(|| corrupt("secret hash length".into()))?),
            None => None,
        };
        let grant_types =
            split_list(&row.grant_types).iter().map(|g| g.parse()).collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
        let allowed_scopes = match &row.allowed_scopes {
            Some(s) => Some(ScopeSet::parse(s).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        };
        Ok(Application {
            id: row.id,
            client_secret_hash,
            client_type: row.client_type.parse().map_err(corrupt)?,
            grant_types,
            redirect_uris: split_list(&row.redirect_uris),
            post_logout_redirect_uris: split_list(&row.post_logout_redirect_uris),
            allowed_origins: split_list(&row.allowed_origins),
            allowed_scopes,
            skip_authorization: row.skip_authorization,
            algorithm: row.algorithm,
            access_token_format: row.access_token_format.parse().map_err(corrupt)?,
            owner_id: row.owner_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            name: row.name,
            client_id: row.client_id,
        })
    }
}

/// Implements [`Store`](super::Store) for `$store`, whose `writer()` and `reader()`
/// return pools of database `$db`, with `migrate` and `ping` supplied by the backend.
macro_rules! sql_store {
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
                       (token_hash, application_id, user_id, scope, created_at, expires_at, code_id, refresh_family) ",
                );
                insert.push_values(batch, |mut row, t| {
                    row.push_bind(t.access_hash.as_bytes())
                        .push_bind(t.application_id)
                        .push_bind(t.user_id)
                        .push_bind(t.scope.as_str())
                        .push_bind(t.created_at)
                        .push_bind(t.access_expires_at)
                        .push_bind(t.code_id)
                        .push_bind(family(t, lineage));
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
                        created_at, expires_at, code_id) ",
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
                        .push_bind(t.code_id);
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
                sqlx::query("UPDATE device_grants SET status = 'denied' WHERE user_id = $1 AND status = 'approved'")
                    .bind(user_id)
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
        impl Store for $store {
            async fn migrate(&self) -> Result<()> {
                self.run_migrations().await
            }

            async fn close(&self) {
                self.close_pools().await;
            }

            fn shared(&self) -> bool {
                self.is_shared()
            }

            fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
                self.change_feed()
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn create_user(&self, user: &NewUser) -> Result<User> {
                sqlx::query_as(concat!(
                    "INSERT INTO users (username, email, first_name, last_name, password_hash, is_active, \
                       is_staff, is_superuser, date_joined) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8) RETURNING ",
                    user_columns!()
                ))
                .bind(&user.username)
                .bind(&user.email)
                .bind(&user.first_name)
                .bind(&user.last_name)
                .bind(&user.password_hash)
                .bind(user.is_staff)
                .bind(user.is_superuser)
                .bind(user.date_joined)
                .fetch_one(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "a user with that username"))
            }

            async fn link_user(&self, account: &crate::accounts::Account) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, username, email, first_name, last_name, password_hash, is_active, \
                       is_staff, is_superuser, date_joined) \
                     VALUES ($1, $2, $3, $4, $5, NULL, TRUE, $6, $7, 0) \
                     ON CONFLICT (id) DO UPDATE SET username = $2, email = $3, first_name = $4, last_name = $5, \
                       password_hash = NULL, is_active = TRUE, is_staff = $6, is_superuser = $7",
                )
                .bind(account.id)
                .bind(&account.username)
                .bind(&account.email)
                .bind(&account.first_name)
                .bind(&account.last_name)
                .bind(account.is_staff)
                .bind(account.is_superuser)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "a user with that username"))?;
                Ok(())
            }

            async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
                    .bind(username)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn update_profile(&self, id: i64, update: &ProfileUpdate) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!(
                    "UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), \
                       email = COALESCE($4, email) WHERE id = $1 RETURNING ",
                    user_columns!()
                ))
                .bind(id)
                .bind(&update.first_name)
                .bind(&update.last_name)
                .bind(&update.email)
                .fetch_optional(self.writer())
                .await?)
            }

            async fn add_user_to_group(&self, user_id: i64, group: &str) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO user_groups (user_id, group_id) SELECT $1, id FROM groups WHERE name = $2 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(group)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn user_groups(&self, user_id: i64) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id \
                     WHERE ug.user_id = $1 ORDER BY g.name",
                )
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn create_application(&self, app: &NewApplication) -> Result<Application> {
                let grant_types: Vec<&str> = app.grant_types.iter().map(|g| g.as_str()).collect();
                let row: ApplicationRow = sqlx::query_as(concat!(
                    "INSERT INTO applications (client_id, client_secret_hash, name, client_type, grant_types, \
                       redirect_uris, allowed_scopes, skip_authorization, algorithm, owner_id, created_at, updated_at, \
                       access_token_format) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING ",
                    application_columns!()
                ))
                .bind(&app.client_id)
                .bind(app.client_secret_hash.as_ref().map(|h| h.as_bytes().to_vec()))
                .bind(&app.name)
                .bind(app.client_type.as_str())
                .bind(join_list(&grant_types))
                .bind(join_list(&app.redirect_uris))
                .bind(app.allowed_scopes.as_ref().map(|s| s.to_string()))
                .bind(app.skip_authorization)
                .bind(&app.algorithm)
                .bind(app.owner_id)
                .bind(app.created_at)
                .bind(app.access_token_format.as_str())
                .fetch_one(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "an application with that client id"))?;
                row.try_into()
            }

            async fn application_by_client_id(&self, client_id: &str) -> Result<Option<Application>> {
                let row: Option<ApplicationRow> =
                    sqlx::query_as(concat!("SELECT ", application_columns!(), " FROM applications WHERE client_id = $1"))
                        .bind(client_id)
                        .fetch_optional(self.reader())
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_applications(&self) -> Result<Vec<Application>> {
                let rows: Vec<ApplicationRow> =
                    sqlx::query_as(concat!("SELECT ", application_columns!(), " FROM applications ORDER BY id"))
                        .fetch_all(self.reader())
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn delete_application(&self, client_id: &str) -> Result<bool> {
                // Tokens, codes and consents go with it through ON DELETE CASCADE.
                let done = sqlx::query("DELETE FROM applications WHERE client_id = $1")
                    .bind(client_id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

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
                Ok(sqlx::query_as(ACCESS_TOKEN_BY_HASH)
                    .bind(hash.as_bytes())
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>> {
                Ok(sqlx::query_as(concat!("SELECT ", refresh_columns!(), " FROM refresh_tokens WHERE token_hash = $1"))
                    .bind(hash.as_bytes())
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn exchange_refresh_token(&self, x: &RefreshExchange) -> Result<RefreshOutcome> {
                let mut tx = self.writer().begin().await?;
                // Take the row lock first (a no-op write), so concurrent exchanges of one
                // token run one after another and each sees what the previous one did.
                sqlx::query("UPDATE refresh_tokens SET revoked_at = revoked_at WHERE id = $1")
                    .bind(x.old_id)
                    .execute(&mut *tx)
                    .await?;
                let old: Option<RefreshTokenRecord> =
                    sqlx::query_as(concat!("SELECT ", refresh_columns!(), " FROM refresh_tokens WHERE id = $1"))
                        .bind(x.old_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(old) = old else { return Ok(RefreshOutcome::Dead) };
                match old.verdict(x.now, x.grace_seconds) {
                    RefreshVerdict::Dead => return Ok(RefreshOutcome::Dead),
                    RefreshVerdict::Reuse => {
                        Self::revoke_family_in(&mut tx, &old.family, x.now).await?;
                        tx.commit().await?;
                        return Ok(RefreshOutcome::Reused);
                    }
                    RefreshVerdict::GraceRetry => {
                        // A successor that was itself exchanged means the chain moved on:
                        // this is a replay, not a client retrying a lost answer.
                        let moved_on: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM refresh_tokens WHERE parent_id = $1 AND rotated_at IS NOT NULL",
                        )
                        .bind(old.id)
                        .fetch_one(&mut *tx)
                        .await?;
                        if moved_on > 0 {
                            Self::revoke_family_in(&mut tx, &old.family, x.now).await?;
                            tx.commit().await?;
                            return Ok(RefreshOutcome::Reused);
                        }
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

            async fn insert_code(&self, c: &NewCode) -> Result<()> {
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, application_id, user_id, redirect_uri, scope, \
                       code_challenge, code_challenge_method, nonce, auth_time, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(c.hash.as_bytes())
                .bind(c.application_id)
                .bind(c.user_id)
                .bind(&c.redirect_uri)
                .bind(&c.scope)
                .bind(&c.code_challenge)
                .bind(&c.code_challenge_method)
                .bind(&c.nonce)
                .bind(c.auth_time)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "authorization code"))?;
                Ok(())
            }

            async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, application_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, \
                       nonce, auth_time, created_at, expires_at, used_at \
                     FROM authorization_codes WHERE code_hash = $1",
                )
                .bind(hash.as_bytes())
                .fetch_optional(self.reader())
                .await?)
            }

            async fn redeem_code(&self, code_id: i64, now: i64, tokens: &NewTokens) -> Result<RedeemOutcome> {
                let mut tx = self.writer().begin().await?;
                // The conditional update is the single-use check: of two concurrent
                // redemptions only one changes the row.
                let taken = sqlx::query(
                    "UPDATE authorization_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(code_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 0 {
                    let used: Option<Option<i64>> = sqlx::query_scalar("SELECT used_at FROM authorization_codes WHERE id = $1")
                        .bind(code_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if !matches!(used, Some(Some(_))) {
                        return Ok(RedeemOutcome::Expired);
                    }
                    sqlx::query(
                        "UPDATE access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND (code_id = $1 OR \
                           refresh_family IN (SELECT family FROM refresh_tokens WHERE code_id = $1))",
                    )
                    .bind(code_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND \
                           family IN (SELECT family FROM refresh_tokens WHERE code_id = $1)",
                    )
                    .bind(code_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(RedeemOutcome::Replayed);
                }
                Self::write_tokens(&mut tx, std::slice::from_ref(tokens), None).await?;
                tx.commit().await?;
                Ok(RedeemOutcome::Issued)
            }

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

            async fn insert_device_grant(&self, g: &NewDeviceGrant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO device_grants (device_code_hash, user_code, application_id, scope, interval_seconds, \
                       created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(g.device_code_hash.as_bytes())
                .bind(&g.user_code)
                .bind(g.application_id)
                .bind(&g.scope)
                .bind(g.interval_seconds)
                .bind(g.created_at)
                .bind(g.expires_at)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "a device grant with that code"))?;
                Ok(())
            }

            async fn device_grant_by_user_code(&self, user_code: &str) -> Result<Option<DeviceGrantRecord>> {
                Ok(sqlx::query_as(concat!(device_grant_select!(), " WHERE g.user_code = $1"))
                    .bind(user_code)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn device_grant_by_code(&self, device_code: &TokenHash) -> Result<Option<DeviceGrantRecord>> {
                Ok(sqlx::query_as(concat!(device_grant_select!(), " WHERE g.device_code_hash = $1"))
                    .bind(device_code.as_bytes())
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn decide_device_grant(&self, id: i64, user_id: i64, approve: bool, now: i64) -> Result<bool> {
                let changed = sqlx::query(
                    "UPDATE device_grants SET status = $2, user_id = $3 \
                     WHERE id = $1 AND status = 'pending' AND expires_at > $4",
                )
                .bind(id)
                .bind(if approve { "approved" } else { "denied" })
                .bind(user_id)
                .bind(now)
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn poll_device_grant(&self, id: i64, now: i64, tokens: &NewTokens) -> Result<DevicePoll> {
                let mut tx = self.writer().begin().await?;
                // Take the row lock first, so concurrent polls run one after another.
                sqlx::query("UPDATE device_grants SET last_polled_at = last_polled_at WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row: Option<(String, Option<i64>, i64, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT status, user_id, interval_seconds, last_polled_at, expires_at FROM device_grants WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, user_id, interval, last_polled, expires_at)) = row else { return Ok(DevicePoll::Gone) };
                if status == "used" {
                    return Ok(DevicePoll::Gone);
                }
                if now >= expires_at {
                    return Ok(DevicePoll::Expired);
                }
                // RFC 8628 §3.5 slow_down: "the interval MUST be increased by 5 seconds
                // for this and all subsequent requests."
                if last_polled.is_some_and(|at| now - at < interval) {
                    sqlx::query("UPDATE device_grants SET interval_seconds = interval_seconds + 5, last_polled_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(DevicePoll::SlowDown);
                }
                let outcome = match (status.as_str(), user_id) {
                    // Only tokens minted for the approving user: a JWT names its user
                    // in a signature, so the store cannot change it afterwards. Tokens
                    // minted before the approval was seen are dropped, and the device
                    // gets them at its next poll.
                    ("approved", Some(user_id)) if tokens.user_id == Some(user_id) => {
                        sqlx::query("UPDATE device_grants SET status = 'used', last_polled_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        Self::write_tokens(&mut tx, std::slice::from_ref(tokens), None).await?;
                        DevicePoll::Issued
                    }
                    ("denied", _) => DevicePoll::Denied,
                    _ => DevicePoll::Pending,
                };
                if outcome != DevicePoll::Issued {
                    sqlx::query("UPDATE device_grants SET last_polled_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(outcome)
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, kid, algorithm, private_key, encrypted, public_jwk, created_at, retired_at \
                     FROM signing_keys ORDER BY created_at DESC, id DESC",
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn add_signing_keys(&self, keys: &[NewSigningKey], retire: bool, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                for key in keys {
                    if retire {
                        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE algorithm = $2 AND retired_at IS NULL")
                            .bind(now)
                            .bind(&key.algorithm)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        let active: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM signing_keys WHERE algorithm = $1 AND retired_at IS NULL",
                        )
                        .bind(&key.algorithm)
                        .fetch_one(&mut *tx)
                        .await?;
                        if active > 0 {
                            continue;
                        }
                    }
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, algorithm, private_key, encrypted, public_jwk, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.kid)
                    .bind(&key.algorithm)
                    .bind(&key.private_key)
                    .bind(key.encrypted)
                    .bind(&key.public_jwk)
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, "signing key id"))?;
                }
                tx.commit().await?;
                Ok(())
            }

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

            async fn set_last_login(&self, user_id: i64, now: i64) -> Result<()> {
                sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn clear_login_failures(&self, key: &str) -> Result<()> {
                sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1")
                    .bind(key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            // --- Application management and authorized-token pages ---

            async fn applications_owned_by(&self, owner_id: i64) -> Result<Vec<Application>> {
                let rows: Vec<ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    application_columns!(),
                    " FROM applications WHERE owner_id = $1 ORDER BY id"
                ))
                .bind(owner_id)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn owned_application(&self, owner_id: i64, id: i64) -> Result<Option<Application>> {
                let row: Option<ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    application_columns!(),
                    " FROM applications WHERE id = $1 AND owner_id = $2"
                ))
                .bind(id)
                .bind(owner_id)
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn register_application(
                &self,
                client_id: &str,
                client_secret_hash: Option<&TokenHash>,
                owner_id: Option<i64>,
                f: &ApplicationFields,
                now: i64,
            ) -> Result<Application> {
                let grant_types: Vec<&str> = f.grant_types.iter().map(|g| g.as_str()).collect();
                let row: ApplicationRow = sqlx::query_as(concat!(
                    "INSERT INTO applications (client_id, client_secret_hash, name, client_type, grant_types, \
                       redirect_uris, allowed_origins, allowed_scopes, skip_authorization, algorithm, owner_id, \
                       created_at, updated_at, post_logout_redirect_uris, access_token_format) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) RETURNING ",
                    application_columns!()
                ))
                .bind(client_id)
                .bind(client_secret_hash.map(|h| h.as_bytes().to_vec()))
                .bind(&f.name)
                .bind(f.client_type.as_str())
                .bind(join_list(&grant_types))
                .bind(join_list(&f.redirect_uris))
                .bind(join_list(&f.allowed_origins))
                .bind(f.allowed_scopes.as_ref().map(|s| s.to_string()))
                .bind(f.skip_authorization)
                .bind(&f.algorithm)
                .bind(owner_id)
                .bind(now)
                .bind(join_list(&f.post_logout_redirect_uris))
                .bind(f.access_token_format.as_str())
                .fetch_one(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "an application with that client id"))?;
                row.try_into()
            }

            async fn update_owned_application(
                &self,
                owner_id: i64,
                id: i64,
                f: &ApplicationFields,
                new_secret: Option<&TokenHash>,
                now: i64,
            ) -> Result<Option<Application>> {
                let grant_types: Vec<&str> = f.grant_types.iter().map(|g| g.as_str()).collect();
                let row: Option<ApplicationRow> = sqlx::query_as(concat!(
                    "UPDATE applications SET name = $3, client_type = $4, grant_types = $5, redirect_uris = $6, \
                       allowed_origins = $7, allowed_scopes = $8, skip_authorization = $9, algorithm = $10, \
                       client_secret_hash = CASE WHEN $4 = 'public' THEN NULL \
                                                 WHEN $11 IS NOT NULL THEN $11 \
                                                 ELSE client_secret_hash END, \
                       updated_at = $12, post_logout_redirect_uris = $13, access_token_format = $14 \
                     WHERE id = $1 AND owner_id = $2 RETURNING ",
                    application_columns!()
                ))
                .bind(id)
                .bind(owner_id)
                .bind(&f.name)
                .bind(f.client_type.as_str())
                .bind(join_list(&grant_types))
                .bind(join_list(&f.redirect_uris))
                .bind(join_list(&f.allowed_origins))
                .bind(f.allowed_scopes.as_ref().map(|s| s.to_string()))
                .bind(f.skip_authorization)
                .bind(&f.algorithm)
                .bind(new_secret.map(|h| h.as_bytes().to_vec()))
                .bind(now)
                .bind(join_list(&f.post_logout_redirect_uris))
                .bind(f.access_token_format.as_str())
                .fetch_optional(self.writer())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn replace_client_secret(&self, owner_id: i64, id: i64, hash: &TokenHash, now: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE applications SET client_secret_hash = $3, updated_at = $4 \
                     WHERE id = $1 AND owner_id = $2 AND client_type = 'confidential'",
                )
                .bind(id)
                .bind(owner_id)
                .bind(hash.as_bytes())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_owned_application(&self, owner_id: i64, id: i64) -> Result<bool> {
                // Tokens, codes and consents go with it through ON DELETE CASCADE.
                let done = sqlx::query("DELETE FROM applications WHERE id = $1 AND owner_id = $2")
                    .bind(id)
                    .bind(owner_id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn authorized_applications(&self, user_id: i64, now: i64) -> Result<Vec<AuthorizedApplication>> {
                // One row per application and scope string; the rows of one application
                // are merged in Rust, since scope unions are not portable SQL.
                let rows: Vec<crate::store::self_service::AuthorizedRow> = sqlx::query_as(
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
                crate::store::self_service::merge_authorized(rows)
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
                    "UPDATE device_grants SET status = 'denied' \
                     WHERE user_id = $1 AND application_id = $2 AND status = 'approved'",
                )
                .bind(user_id)
                .bind(application_id)
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

            // --- Admin pages ---

            async fn count_users(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.reader()).await?)
            }

            async fn list_users(&self, search: &str, limit: i64, offset: i64) -> Result<Listing<User>> {
                let pattern = crate::store::admin::contains_pattern(search);
                let items = sqlx::query_as(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE ",
                    crate::store::admin::search_two_columns!("username", "email"),
                    "ORDER BY username LIMIT $2 OFFSET $3"
                ))
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?;
                let total = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM users WHERE ",
                    crate::store::admin::search_two_columns!("username", "email")
                ))
                .bind(&pattern)
                .fetch_one(self.reader())
                .await?;
                Ok(Listing { items, total })
            }

            async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                let found = sqlx::query("UPDATE users SET is_active = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(active)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if found == 0 {
                    return Ok(false);
                }
                if !active {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn reset_password(
                &self,
                user_id: i64,
                hash: &str,
                keep_session: Option<&TokenHash>,
                revoke_tokens_at: Option<i64>,
            ) -> Result<Option<u64>> {
                let mut tx = self.writer().begin().await?;
                let found = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if found == 0 {
                    return Ok(None);
                }
                let revoked = match revoke_tokens_at {
                    Some(now) => Self::revoke_every_user_token_in(&mut tx, user_id, now).await?,
                    None => 0,
                };
                match keep_session {
                    Some(keep) => {
                        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                            .bind(user_id)
                            .bind(keep.as_bytes())
                            .execute(&mut *tx)
                            .await?
                    }
                    None => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?,
                };
                tx.commit().await?;
                Ok(Some(revoked))
            }

            async fn set_user_groups(&self, user_id: i64, groups: &[String]) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                // A no-op write takes the user's row lock, so two concurrent changes of
                // one user's groups run one after the other and the last one wins whole.
                let found = sqlx::query("UPDATE users SET is_active = is_active WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if found == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM user_groups WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                for group in groups {
                    sqlx::query("INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                        .bind(group)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO user_groups (user_id, group_id) SELECT $1, id FROM groups WHERE name = $2 \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn count_applications(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM applications").fetch_one(self.reader()).await?)
            }

            async fn list_all_applications(
                &self,
                search: &str,
                limit: i64,
                offset: i64,
            ) -> Result<Listing<ApplicationListing>> {
                let pattern = crate::store::admin::contains_pattern(search);
                let rows: Vec<crate::store::admin::ApplicationListingRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    application_columns!(),
                    ", (SELECT u.username FROM users u WHERE u.id = applications.owner_id) AS owner_username \
                     FROM applications WHERE ",
                    crate::store::admin::search_two_columns!("name", "client_id"),
                    "ORDER BY name, id LIMIT $2 OFFSET $3"
                ))
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?;
                let total = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM applications WHERE ",
                    crate::store::admin::search_two_columns!("name", "client_id")
                ))
                .bind(&pattern)
                .fetch_one(self.reader())
                .await?;
                let items = rows.into_iter().map(TryInto::try_into).collect::<Result<_>>()?;
                Ok(Listing { items, total })
            }

            async fn application_by_id(&self, id: i64) -> Result<Option<Application>> {
                let row: Option<ApplicationRow> =
                    sqlx::query_as(concat!("SELECT ", application_columns!(), " FROM applications WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn update_application(
                &self,
                id: i64,
                f: &ApplicationFields,
                now: i64,
            ) -> Result<Option<Application>> {
                let grant_types: Vec<&str> = f.grant_types.iter().map(|g| g.as_str()).collect();
                let row: Option<ApplicationRow> = sqlx::query_as(concat!(
                    "UPDATE applications SET name = $2, grant_types = $3, redirect_uris = $4, allowed_origins = $5, \
                       allowed_scopes = $6, skip_authorization = $7, algorithm = $8, updated_at = $9, \
                       post_logout_redirect_uris = $10, access_token_format = $11 \
                     WHERE id = $1 RETURNING ",
                    application_columns!()
                ))
                .bind(id)
                .bind(&f.name)
                .bind(join_list(&grant_types))
                .bind(join_list(&f.redirect_uris))
                .bind(join_list(&f.allowed_origins))
                .bind(f.allowed_scopes.as_ref().map(|s| s.to_string()))
                .bind(f.skip_authorization)
                .bind(&f.algorithm)
                .bind(now)
                .bind(join_list(&f.post_logout_redirect_uris))
                .bind(f.access_token_format.as_str())
                .fetch_optional(self.writer())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_access_tokens(
                &self,
                filter: &TokenFilter,
                limit: i64,
                offset: i64,
            ) -> Result<Listing<AccessTokenListing>> {
                let items = sqlx::query_as(concat!(
                    crate::store::admin::access_token_listing_select!(),
                    crate::store::admin::access_token_filter!(),
                    "ORDER BY t.id DESC LIMIT $3 OFFSET $4"
                ))
                .bind(&filter.username)
                .bind(&filter.client_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?;
                let total = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM access_tokens t \
                     JOIN applications a ON a.id = t.application_id \
                     LEFT JOIN users u ON u.id = t.user_id ",
                    crate::store::admin::access_token_filter!()
                ))
                .bind(&filter.username)
                .bind(&filter.client_id)
                .fetch_one(self.reader())
                .await?;
                Ok(Listing { items, total })
            }

            async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessTokenListing>> {
                Ok(sqlx::query_as(concat!(crate::store::admin::access_token_listing_select!(), "WHERE t.id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn count_live_tokens(&self, now: i64) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM access_tokens t LEFT JOIN users u ON u.id = t.user_id \
                     WHERE t.revoked_at IS NULL AND t.expires_at > $1 AND (t.user_id IS NULL OR u.is_active)",
                )
                .bind(now)
                .fetch_one(self.reader())
                .await?)
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
                let device_grants = sqlx::query("DELETE FROM device_grants WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
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

            // --- The audit log ---

            async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO audit_events (occurred_at, kind, user_id, client_id, client_addr, detail) ",
                );
                insert.push_values(events, |mut row, e| {
                    row.push_bind(e.occurred_at)
                        .push_bind(e.kind.as_str())
                        .push_bind(e.user_id)
                        .push_bind(e.client_id.as_deref())
                        .push_bind(e.client_addr.as_deref())
                        .push_bind(e.detail.as_str());
                });
                insert.build().execute(self.writer()).await?;
                Ok(())
            }

            async fn list_audit_events(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>> {
                // Only the conditions given, so that each filter is a statement of its
                // own whose plan uses that filter's index (a generic plan of
                // `$1 IS NULL OR kind = $1` would scan the whole log).
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT e.id, e.occurred_at, e.kind, e.user_id, e.client_id, e.client_addr, e.detail, u.username \
                     FROM audit_events e LEFT JOIN users u ON u.id = e.user_id WHERE TRUE",
                );
                if let Some(kind) = filter.kind {
                    query.push(" AND e.kind = ").push_bind(kind.as_str());
                }
                if let Some(user_id) = filter.user_id {
                    query.push(" AND e.user_id = ").push_bind(user_id);
                }
                if let Some(client_id) = &filter.client_id {
                    query.push(" AND e.client_id = ").push_bind(client_id.as_str());
                }
                if let Some(before) = filter.before {
                    query.push(" AND e.id < ").push_bind(before);
                }
                query.push(" ORDER BY e.id DESC LIMIT ").push_bind(limit);
                let rows: Vec<crate::store::audit::AuditEventRow> =
                    query.build_query_as().fetch_all(self.reader()).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            // --- Metrics ---

            async fn count_active_sessions(&self, now: i64) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL AND expires_at > $1",
                )
                .bind(now)
                .fetch_one(self.reader())
                .await?)
            }

            fn pool_stats(&self) -> Vec<PoolStats> {
                let (writer, reader) = (self.writer(), self.reader());
                // PostgreSQL's writer and reader are one pool (the same field); SQLite
                // has a one-connection writer beside a pool of readers.
                if std::ptr::eq(writer, reader) {
                    vec![PoolStats::of("main", writer)]
                } else {
                    vec![PoolStats::of("writer", writer), PoolStats::of("reader", reader)]
                }
            }
        }
    };
}

pub(super) use sql_store;
