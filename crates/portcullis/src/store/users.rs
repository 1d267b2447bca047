//! People who log in: their accounts, profiles, groups and passwords.

use async_trait::async_trait;

use super::Result;
use crate::crypto::TokenHash;

/// A person who can log in. `password_hash` is an Argon2id PHC string, `None` for an
/// account that cannot log in with a password.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// The permanent id: `sub` in tokens and introspection answers.
    pub id: i64,
    /// The unique login name.
    pub username: String,
    /// The address, or empty.
    pub email: String,
    /// Given name, or empty; `given_name` in OpenID Connect claims.
    pub first_name: String,
    /// Family name, or empty; `family_name` in OpenID Connect claims.
    pub last_name: String,
    /// Argon2id PHC string; `None`: no password login.
    pub password_hash: Option<String>,
    /// Whether the user may log in and their tokens work.
    pub is_active: bool,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
    /// When the account was made, seconds since the Unix epoch.
    pub date_joined: i64,
    /// When the user last logged in on the login page, if ever.
    pub last_login: Option<i64>,
}

/// A user to create with [`Users::create_user`], its username and email already checked
/// and its password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The unique login name.
    pub username: String,
    /// The address, or empty.
    pub email: String,
    /// Given name, or empty.
    pub first_name: String,
    /// Family name, or empty.
    pub last_name: String,
    /// An Argon2id PHC string; `None`: no password login.
    pub password_hash: Option<String>,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
    /// When the account is made, seconds since the Unix epoch.
    pub date_joined: i64,
}

/// An account a host application keeps, as [`Users::link_user`] mirrors it: under the
/// host's id, without a password.
#[derive(Debug, Clone, Copy)]
pub struct LinkedUser<'a> {
    /// The host's id for the account, which becomes the row's.
    pub id: i64,
    /// The login name.
    pub username: &'a str,
    /// The address, or empty.
    pub email: &'a str,
    /// Given name, or empty.
    pub first_name: &'a str,
    /// Family name, or empty.
    pub last_name: &'a str,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
}

/// The fields a user may change about themselves through the API.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// A new given name; `None` keeps it.
    pub first_name: Option<String>,
    /// A new family name; `None` keeps it.
    pub last_name: Option<String>,
    /// A new address; `None` keeps it.
    pub email: Option<String>,
}

/// Users: accounts, their groups, and what staff change about them.
#[async_trait]
pub trait Users: Send + Sync + 'static {
    /// Adds a user, active. [`StoreError::Conflict`](super::StoreError::Conflict) if the
    /// username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    /// The user with this id, active or not.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// The user with this username, active or not.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// Creates or refreshes the row that mirrors a host application's account: same
    /// id, no password, active.
    async fn link_user(&self, user: &LinkedUser<'_>) -> Result<()>;
    /// Changes the fields `update` gives; `None` if there is no such user.
    async fn update_profile(&self, id: i64, update: &ProfileUpdate) -> Result<Option<User>>;
    /// Adds the user to the named group, creating the group if needed.
    async fn add_user_to_group(&self, user_id: i64, group: &str) -> Result<()>;
    /// The names of the user's groups, sorted.
    async fn user_groups(&self, user_id: i64) -> Result<Vec<String>>;
    /// Sets the user's [`User::last_login`].
    async fn set_last_login(&self, user_id: i64, now: i64) -> Result<()>;
    /// Activates or deactivates the user; deactivating also ends their browser sessions,
    /// in the same transaction. `false` if there is no such user.
    async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool>;
    /// Sets the user's password hash and ends their browser sessions, all but
    /// `keep_session` (the session making the change, when it is theirs), in one
    /// transaction. With `revoke_tokens_at`, the same transaction also revokes, as of
    /// then, every access, refresh and ID token issued to the user, for every
    /// application, and drops their unused authorization codes and approved device
    /// grants, which would still buy new tokens. `None` if there is no such user;
    /// otherwise how many access and refresh tokens were revoked.
    async fn reset_password(
        &self,
        user_id: i64,
        hash: &str,
        keep_session: Option<&TokenHash>,
        revoke_tokens_at: Option<i64>,
    ) -> Result<Option<u64>>;
    /// Replaces the user's groups with the named ones, creating groups as needed.
    /// `false` if there is no such user.
    async fn set_user_groups(&self, user_id: i64, groups: &[String]) -> Result<bool>;
}

/// The columns of a [`User`], in its field order.
macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, password_hash, is_active, is_staff, is_superuser, date_joined, last_login"
    };
}

/// Implements [`Users`] for a backend; see [`super`] for the contract of `$store`.
macro_rules! users_sql {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Puts the user in `group`, making the group if it is new; already a
            /// member is fine.
            async fn add_group_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                group: &str,
            ) -> Result<()> {
                sqlx::query("INSERT INTO groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                    .bind(group)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO user_groups (user_id, group_id) SELECT $1, id FROM groups WHERE name = $2 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(group)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl Users for $store {
            async fn create_user(&self, user: &NewUser) -> Result<User> {
                sqlx::query_as(concat!(
                    "INSERT INTO users (username, email, first_name, last_name, password_hash, is_active, \
                       is_staff, is_superuser, date_joined) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8) RETURNING ",
                    $crate::store::users::user_columns!()
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

            async fn link_user(&self, user: &LinkedUser<'_>) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, username, email, first_name, last_name, password_hash, is_active, \
                       is_staff, is_superuser, date_joined) \
                     VALUES ($1, $2, $3, $4, $5, NULL, TRUE, $6, $7, 0) \
                     ON CONFLICT (id) DO UPDATE SET username = $2, email = $3, first_name = $4, last_name = $5, \
                       password_hash = NULL, is_active = TRUE, is_staff = $6, is_superuser = $7",
                )
                .bind(user.id)
                .bind(user.username)
                .bind(user.email)
                .bind(user.first_name)
                .bind(user.last_name)
                .bind(user.is_staff)
                .bind(user.is_superuser)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "a user with that username"))?;
                Ok(())
            }

            async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE username = $1"
                ))
                .bind(username)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn update_profile(&self, id: i64, update: &ProfileUpdate) -> Result<Option<User>> {
                Ok(sqlx::query_as(concat!(
                    "UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), \
                       email = COALESCE($4, email) WHERE id = $1 RETURNING ",
                    $crate::store::users::user_columns!()
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
                Self::add_group_in(&mut tx, user_id, group).await?;
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

            async fn set_last_login(&self, user_id: i64, now: i64) -> Result<()> {
                sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
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
                    Self::add_group_in(&mut tx, user_id, group).await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(super) use {user_columns, users_sql};
