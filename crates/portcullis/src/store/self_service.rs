//! Records for the pages where users manage their own applications
//! (`/o/applications/`) and the access they have given (`/o/authorized_tokens/`).

use portcullis_axum::ScopeSet;

use super::{AccessTokenFormat, ClientType, GrantType};

/// The settings an application's owner chooses when registering it and may change
/// later; checked by [`crate::registration::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationFields {
    /// What the consent page and the management pages call it.
    pub name: String,
    /// RFC 6749 §2.1: whether it can keep a secret.
    pub client_type: ClientType,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// RFC 6749 §3.1.2: the exact redirection URIs it may use.
    pub redirect_uris: Vec<String>,
    /// OpenID Connect RP-Initiated Logout §3: where the browser may go after logging
    /// out.
    pub post_logout_redirect_uris: Vec<String>,
    /// Origins (`https://app.example`) a browser may call the token endpoint from.
    pub allowed_origins: Vec<String>,
    /// `None`: every configured scope.
    pub allowed_scopes: Option<ScopeSet>,
    /// Whether users are never asked to consent.
    pub skip_authorization: bool,
    /// The JWS `alg` its tokens are signed with (`RS256`, `ES256` or `EdDSA`).
    pub algorithm: String,
    /// What its access tokens look like on the wire.
    pub access_token_format: AccessTokenFormat,
}

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
pub(super) fn merge_authorized(rows: Vec<AuthorizedRow>) -> Result<Vec<AuthorizedApplication>, super::StoreError> {
    let mut out: Vec<AuthorizedApplication> = Vec::new();
    for row in rows {
        let scope = ScopeSet::parse(&row.scope)
            .map_err(|e| super::StoreError::Corrupt(format!("grant for application {}: {e}", row.client_id)))?;
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
