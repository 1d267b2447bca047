//! What the staff pages and `/metrics` read: pages of users, applications and access
//! tokens with the totals that paging needs, and counts.

use async_trait::async_trait;

use super::applications::ApplicationRow;
use super::{AccessTokenRecord, Application, Result, StoreError, User};

/// One page of a longer list: the rows asked for, and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// How many rows match in all pages.
    pub total: i64,
}

/// An application as the staff list shows it: with its owner's username, if it has an
/// owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationListing {
    /// The application.
    pub app: Application,
    /// Its owner's username, if it has an owner.
    pub owner: Option<String>,
}

/// Which access tokens to list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    /// The exact username of the token's user.
    pub username: Option<String>,
    /// The exact client id of the token's application.
    pub client_id: Option<String>,
}

/// An access token as staff see it: never its value (only its hash is kept), but whose
/// it is, for what, and whether it still works ([`AccessTokenRecord::status`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenListing {
    /// The token.
    #[sqlx(flatten)]
    pub record: AccessTokenRecord,
    /// The name of the application it was issued to.
    pub application_name: String,
}

/// Listings and counts for the staff pages and the metrics.
#[async_trait]
pub trait Listings: Send + Sync + 'static {
    /// How many users there are.
    async fn count_users(&self) -> Result<i64>;
    /// Users whose username or email contains `search` (case-insensitively; `%` and
    /// `_` match themselves), ordered by username, `limit` from `offset`.
    async fn list_users(&self, search: &str, limit: i64, offset: i64) -> Result<Listing<User>>;
    /// How many applications there are.
    async fn count_applications(&self) -> Result<i64>;
    /// Every user's applications whose name or client id contains `search`
    /// (as [`Listings::list_users`] searches), ordered by name.
    async fn list_all_applications(&self, search: &str, limit: i64, offset: i64)
        -> Result<Listing<ApplicationListing>>;
    /// Access tokens, newest first.
    async fn list_access_tokens(
        &self,
        filter: &TokenFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Listing<AccessTokenListing>>;
    /// The access token with this row id, as staff see it.
    async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessTokenListing>>;
    /// Access tokens that work at `now`: unrevoked, unexpired, and their user (if any)
    /// active.
    async fn count_live_tokens(&self, now: i64) -> Result<i64>;
    /// How many browser sessions of logged-in users have not expired at `now`; the
    /// anonymous ones that only carry the login form's CSRF token do not count.
    async fn count_active_sessions(&self, now: i64) -> Result<i64>;
}

#[async_trait]
impl<L: super::PassThrough<dyn Listings>> Listings for L {
    async fn count_users(&self) -> Result<i64> {
        self.inner().count_users().await
    }
    async fn list_users(&self, search: &str, limit: i64, offset: i64) -> Result<Listing<User>> {
        self.inner().list_users(search, limit, offset).await
    }
    async fn count_applications(&self) -> Result<i64> {
        self.inner().count_applications().await
    }
    async fn list_all_applications(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Listing<ApplicationListing>> {
        self.inner().list_all_applications(search, limit, offset).await
    }
    async fn list_access_tokens(
        &self,
        filter: &TokenFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Listing<AccessTokenListing>> {
        self.inner().list_access_tokens(filter, limit, offset).await
    }
    async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessTokenListing>> {
        self.inner().access_token_by_id(id).await
    }
    async fn count_live_tokens(&self, now: i64) -> Result<i64> {
        self.inner().count_live_tokens(now).await
    }
    async fn count_active_sessions(&self, now: i64) -> Result<i64> {
        self.inner().count_active_sessions(now).await
    }
}

/// The columns of an [`AccessTokenListing`], for a `WHERE` clause to follow.
macro_rules! access_token_listing_select {
    () => {
        "SELECT t.id, t.application_id, a.client_id, a.name AS application_name, t.user_id, u.username, \
           u.is_active AS user_active, t.scope, t.created_at, t.expires_at, t.revoked_at, t.refresh_family, t.audience \
         FROM access_tokens t \
         JOIN applications a ON a.id = t.application_id \
         LEFT JOIN users u ON u.id = t.user_id "
    };
}

/// The filter of the token list, on the tables as [`access_token_listing_select`]
/// names them; `$1` the username, `$2` the client id, each `NULL` for any.
macro_rules! access_token_filter {
    () => {
        "WHERE ($1 IS NULL OR u.username = $1) AND ($2 IS NULL OR a.client_id = $2) "
    };
}

/// Case-insensitive substring search over two columns, `$1` the pattern that
/// [`contains_pattern`] makes. `LOWER` on both sides keeps SQLite (ASCII-only `LOWER`)
/// and PostgreSQL each consistent with themselves.
macro_rules! search_two_columns {
    ($a:literal, $b:literal) => {
        concat!("(LOWER(", $a, ") LIKE LOWER($1) ESCAPE '\\' OR LOWER(", $b, ") LIKE LOWER($1) ESCAPE '\\') ")
    };
}

/// Implements [`Listings`] for a backend (see the module documentation of `store`).
macro_rules! listings_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Listings for $store {
            async fn count_users(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.reader()).await?)
            }

            async fn list_users(&self, search: &str, limit: i64, offset: i64) -> Result<Listing<User>> {
                let pattern = $crate::store::listings::contains_pattern(search);
                let items = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE ",
                    $crate::store::listings::search_two_columns!("username", "email"),
                    "ORDER BY username LIMIT $2 OFFSET $3"
                ))
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?;
                let total = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM users WHERE ",
                    $crate::store::listings::search_two_columns!("username", "email")
                ))
                .bind(&pattern)
                .fetch_one(self.reader())
                .await?;
                Ok(Listing { items, total })
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
                let pattern = $crate::store::listings::contains_pattern(search);
                let rows: Vec<$crate::store::listings::ApplicationListingRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    ", (SELECT u.username FROM users u WHERE u.id = applications.owner_id) AS owner_username \
                     FROM applications WHERE ",
                    $crate::store::listings::search_two_columns!("name", "client_id"),
                    "ORDER BY name, id LIMIT $2 OFFSET $3"
                ))
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?;
                let total = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM applications WHERE ",
                    $crate::store::listings::search_two_columns!("name", "client_id")
                ))
                .bind(&pattern)
                .fetch_one(self.reader())
                .await?;
                let items = rows.into_iter().map(TryInto::try_into).collect::<Result<_>>()?;
                Ok(Listing { items, total })
            }

            async fn list_access_tokens(
                &self,
                filter: &TokenFilter,
                limit: i64,
                offset: i64,
            ) -> Result<Listing<AccessTokenListing>> {
                let items = sqlx::query_as(concat!(
                    $crate::store::listings::access_token_listing_select!(),
                    $crate::store::listings::access_token_filter!(),
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
                    $crate::store::listings::access_token_filter!()
                ))
                .bind(&filter.username)
                .bind(&filter.client_id)
                .fetch_one(self.reader())
                .await?;
                Ok(Listing { items, total })
            }

            async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessTokenListing>> {
                Ok(sqlx::query_as(concat!($crate::store::listings::access_token_listing_select!(), "WHERE t.id = $1"))
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

            async fn count_active_sessions(&self, now: i64) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL AND expires_at > $1")
                    .bind(now)
                    .fetch_one(self.reader())
                    .await?)
            }
        }
    };
}

pub(super) use {access_token_filter, access_token_listing_select, listings_sql, search_two_columns};

/// A `LIKE` pattern matching any text that contains `search` literally: `%`, `_` and
/// the escape character itself lose their special meaning.
pub(super) fn contains_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An `applications` row with its owner's username.
#[derive(sqlx::FromRow)]
pub(super) struct ApplicationListingRow {
    #[sqlx(flatten)]
    app: ApplicationRow,
    owner_username: Option<String>,
}

impl TryFrom<ApplicationListingRow> for ApplicationListing {
    type Error = StoreError;

    fn try_from(row: ApplicationListingRow) -> Result<Self> {
        Ok(Self { app: row.app.try_into()?, owner: row.owner_username })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }
}
