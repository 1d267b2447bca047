//! Authorization codes (RFC 6749 §4.1.2), with their PKCE challenge (RFC 7636).

use async_trait::async_trait;

use super::{NewTokens, Result, StoreError};
use crate::crypto::TokenHash;
use crate::proto::CodeChallengeMethod;

/// The PKCE challenge an authorization request sent (RFC 7636 §4.3), which the token
/// request's `code_verifier` must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    /// `code_challenge`.
    pub challenge: String,
    /// `code_challenge_method`.
    pub method: CodeChallengeMethod,
}

/// An authorization code to store (RFC 6749 §4.1.2).
#[derive(Debug, Clone)]
pub struct NewCode {
    /// The hash of the code's value.
    pub hash: TokenHash,
    /// The application the code is for.
    pub application_id: i64,
    /// The user who approved the request.
    pub user_id: i64,
    /// The `redirect_uri` the request named, or empty when it named none: RFC 6749
    /// §4.1.3 requires the token request to repeat it exactly when it was given.
    pub redirect_uri: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The resources the request named (RFC 8707), space-separated; empty: none.
    pub resource: String,
    /// The request's PKCE challenge; `None` when it sent none.
    pub code_challenge: Option<CodeChallenge>,
    /// OpenID Connect Core §3.1.2.1 `nonce`, repeated in the ID token the code buys.
    pub nonce: Option<String>,
    /// When the user logged in, for the ID token's `auth_time`.
    pub auth_time: i64,
    /// When it is issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working (`oauth2.authorization_code_expire_seconds` later).
    pub expires_at: i64,
}

/// A stored authorization code (see [`NewCode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The row's id.
    pub id: i64,
    /// The application the code is for.
    pub application_id: i64,
    /// The user who approved the request.
    pub user_id: i64,
    /// The `redirect_uri` the request named, or empty (see [`NewCode::redirect_uri`]).
    pub redirect_uri: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The resources the request named (RFC 8707), space-separated; empty: none.
    pub resource: String,
    /// The request's PKCE challenge, if it sent one.
    pub code_challenge: Option<CodeChallenge>,
    /// OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the user logged in.
    pub auth_time: i64,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was exchanged, if it was: a second exchange is a replay.
    pub used_at: Option<i64>,
}

/// What became of an attempt to exchange a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// The code was good: the tokens are stored and the code is used.
    Issued,
    /// The code had been used: everything issued from it is now revoked.
    Replayed,
    /// The code had expired: nothing is issued.
    Expired,
}

/// Authorization codes: issued by the authorization endpoint, exchanged once at the
/// token endpoint.
#[async_trait]
pub trait Codes: Send + Sync + 'static {
    /// Stores an authorization code (RFC 6749 §4.1.2).
    async fn insert_code(&self, code: &NewCode) -> Result<()>;
    /// The authorization code with this hash, used or not.
    async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>>;
    /// Marks the code used and stores the tokens it buys, in one transaction. A code
    /// already used is a replay: the tokens it bought are revoked (RFC 6749 §4.1.2:
    /// "If an authorization code is used more than once, the authorization server MUST
    /// deny the request and SHOULD revoke (when possible) all tokens previously issued
    /// based on that authorization code.").
    async fn redeem_code(&self, code_id: i64, now: i64, tokens: &NewTokens) -> Result<RedeemOutcome>;
}

/// An `authorization_codes` row as stored: no challenge is kept as empty text.
#[derive(sqlx::FromRow)]
pub(super) struct CodeRow {
    id: i64,
    application_id: i64,
    user_id: i64,
    redirect_uri: String,
    scope: String,
    resource: String,
    code_challenge: String,
    code_challenge_method: String,
    nonce: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<CodeRow> for CodeRecord {
    type Error = StoreError;

    fn try_from(row: CodeRow) -> Result<Self, StoreError> {
        let code_challenge = if row.code_challenge.is_empty() {
            None
        } else {
            let method = CodeChallengeMethod::parse(&row.code_challenge_method).ok_or_else(|| {
                StoreError::Corrupt(format!("code {}: code challenge method {:?}", row.id, row.code_challenge_method))
            })?;
            Some(CodeChallenge { challenge: row.code_challenge, method })
        };
        Ok(Self {
            id: row.id,
            application_id: row.application_id,
            user_id: row.user_id,
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            resource: row.resource,
            code_challenge,
            nonce: row.nonce,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
        })
    }
}

/// Implements [`Codes`] for a backend (see the module documentation of `store`).
macro_rules! codes_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Codes for $store {
            async fn insert_code(&self, c: &NewCode) -> Result<()> {
                let (challenge, method) = match &c.code_challenge {
                    Some(pkce) => (pkce.challenge.as_str(), pkce.method.as_str()),
                    None => ("", ""),
                };
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, application_id, user_id, redirect_uri, scope, \
                       code_challenge, code_challenge_method, nonce, auth_time, created_at, expires_at, resource) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(c.hash.as_bytes())
                .bind(c.application_id)
                .bind(c.user_id)
                .bind(&c.redirect_uri)
                .bind(&c.scope)
                .bind(challenge)
                .bind(method)
                .bind(&c.nonce)
                .bind(c.auth_time)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(&c.resource)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "authorization code"))?;
                Ok(())
            }

            async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>> {
                let row: Option<$crate::store::codes::CodeRow> = sqlx::query_as(
                    "SELECT id, application_id, user_id, redirect_uri, scope, resource, code_challenge, code_challenge_method, \
                       nonce, auth_time, created_at, expires_at, used_at \
                     FROM authorization_codes WHERE code_hash = $1",
                )
                .bind(hash.as_bytes())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
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
                    let used: Option<Option<i64>> =
                        sqlx::query_scalar("SELECT used_at FROM authorization_codes WHERE id = $1")
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
        }
    };
}

pub(super) use codes_sql;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(challenge: &str, method: &str) -> CodeRow {
        CodeRow {
            id: 1,
            application_id: 1,
            user_id: 1,
            redirect_uri: String::new(),
            scope: "read".into(),
            resource: String::new(),
            code_challenge: challenge.into(),
            code_challenge_method: method.into(),
            nonce: None,
            auth_time: 0,
            created_at: 0,
            expires_at: 60,
            used_at: None,
        }
    }

    #[test]
    fn an_empty_challenge_is_none_and_a_method_must_be_known() {
        assert_eq!(CodeRecord::try_from(row("", "")).map(|c| c.code_challenge).ok(), Some(None));
        let s256 = CodeRecord::try_from(row("abc", "S256")).map(|c| c.code_challenge).ok().flatten();
        assert_eq!(s256, Some(CodeChallenge { challenge: "abc".into(), method: CodeChallengeMethod::S256 }));
        assert!(matches!(CodeRecord::try_from(row("abc", "s256")), Err(StoreError::Corrupt(_))));
    }
}
