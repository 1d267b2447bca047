//! What the staff pages (`pages::admin`) read from the store: pages of users,
//! applications and access tokens, with the totals that paging needs.

use super::sql::ApplicationRow;
use super::{AccessTokenRecord, Application, StoreError};

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

/// The columns of an [`AccessTokenListing`], for a `WHERE` clause to follow.
macro_rules! access_token_listing_select {
    () => {
        "SELECT t.id, t.application_id, a.client_id, a.name AS application_name, t.user_id, u.username, \
           u.is_active AS user_active, t.scope, t.created_at, t.expires_at, t.revoked_at, t.refresh_family \
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

pub(super) use {access_token_filter, access_token_listing_select, search_two_columns};

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

    fn try_from(row: ApplicationListingRow) -> Result<Self, StoreError> {
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
