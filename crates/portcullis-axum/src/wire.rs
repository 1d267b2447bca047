use serde::{Deserialize, Serialize};

/// An introspection answer (RFC 7662 §2.2). Only `active` is required; everything else
/// is present for active tokens and absent for inactive ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is currently valid: the one required member.
    pub active: bool,
    /// The token's scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The login name of the user the token acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The user's id, or the client id for a token a client holds for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

impl Introspection {
    /// The answer for anything not currently valid: just `{"active": false}`, so a
    /// caller learns nothing about tokens that do not work (RFC 7662 §2.2).
    pub fn inactive() -> Self {
        Self::default()
    }

    /// The answer for a valid token. `sub` is the user's id, or the client id for a
    /// token a client holds for itself.
    pub fn active(info: &crate::TokenInfo) -> Self {
        Self {
            active: true,
            scope: Some(info.scope.to_string()),
            client_id: Some(info.client_id.clone()),
            username: info.username.clone(),
            token_type: Some("Bearer".into()),
            exp: Some(info.expires_at),
            iat: Some(info.issued_at),
            sub: Some(info.user_id.clone().unwrap_or_else(|| info.client_id.clone())),
        }
    }
}
