use crate::crypto::TokenHash;
use crate::store::{Application, Store, StoreError};

/// Revokes `token` if it belongs to `app` (RFC 7009 §2.1). The hint only orders the
/// search: "If the server is unable to locate the token using the given hint, it MUST
/// extend its search across all of its supported token types."
///
/// A token that is unknown, already dead or another client's changes nothing and is
/// not an error: RFC 7009 §2.2 answers 200 "if the client submitted an invalid token",
/// and saying more would tell a client which other clients' tokens exist.
///
/// Revoking a refresh token revokes its whole family and the access tokens issued with
/// it (§2.1: the server "SHOULD also invalidate all access tokens based on the same
/// authorization grant"); revoking an access token leaves its refresh token alone.
pub async fn revoke(
    store: &dyn Store,
    app: &Application,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<Option<Revoked>, StoreError> {
    let hash = TokenHash::of(token);
    let refresh_first = hint == Some("refresh_token");
    for refresh in [refresh_first, !refresh_first] {
        if refresh {
            if let Some(record) = store.refresh_token(&hash).await? {
                if record.application_id != app.id || record.revoked_at.is_some() {
                    return Ok(None);
                }
                store.revoke_refresh_family(&record.family, now).await?;
                return Ok(Some(Revoked { refresh: true, user_id: Some(record.user_id) }));
            }
        } else if let Some(record) = store.access_token(&hash).await? {
            if record.application_id != app.id || record.revoked_at.is_some() {
                return Ok(None);
            }
            store.revoke_access_token(record.id, now).await?;
            return Ok(Some(Revoked { refresh: false, user_id: record.user_id }));
        }
    }
    Ok(None)
}

/// What [`revoke`] revoked, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// A refresh token's whole grant, rather than one access token.
    pub refresh: bool,
    /// Whose token it was; `None` for a client's own.
    pub user_id: Option<i64>,
}

impl Revoked {
    /// The audit log's words for it.
    pub fn describe(self) -> &'static str {
        if self.refresh {
            "a refresh token, with every token of its grant (RFC 7009)"
        } else {
            "an access token (RFC 7009)"
        }
    }
}
