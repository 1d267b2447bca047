use serde::{Deserialize, Serialize};

/// An introspection answer (RFC 7662 §2.2). Only `active` is required; everything else
/// is present for active tokens and absent for inactive ones. The provider writes it
/// and `IntrospectionVerifier` (feature `introspection`) reads it; a program that calls
/// `/o/introspect/` itself reads it the same way:
///
/// ```
/// use portcullis_axum::wire::Introspection;
///
/// let body = r#"{"active": true, "scope": "read write", "client_id": "photos",
///                "username": "ada", "token_type": "Bearer", "exp": 1700003600,
///                "iat": 1700000000, "sub": "7"}"#;
/// let answer: Introspection = serde_json::from_str(body)?;
/// assert!(answer.active);
/// assert_eq!((answer.sub.as_deref(), answer.exp), (Some("7"), Some(1_700_003_600)));
///
/// // RFC 7662 §2.2: only `active` is required.
/// let answer: Introspection = serde_json::from_str(r#"{"active": false}"#)?;
/// assert_eq!(answer, Introspection::inactive());
/// # Ok::<(), serde_json::Error>(())
/// ```
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
    ///
    /// ```
    /// use portcullis_axum::wire::Introspection;
    ///
    /// let body = serde_json::to_string(&Introspection::inactive())?;
    /// assert_eq!(body, r#"{"active":false}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn inactive() -> Self {
        Self::default()
    }

    /// The answer for a valid token. `sub` is the user's id, or the client id for a
    /// token a client holds for itself.
    ///
    /// ```
    /// use portcullis_axum::wire::Introspection;
    /// use portcullis_axum::{ScopeSet, TokenInfo};
    ///
    /// // A client-credentials token: no user, so `sub` names the client.
    /// let info = TokenInfo {
    ///     scope: ScopeSet::from_tokens(["write", "read"]),
    ///     client_id: "reports".into(),
    ///     user_id: None,
    ///     username: None,
    ///     expires_at: 1_700_003_600,
    ///     issued_at: 1_700_000_000,
    /// };
    /// let answer = Introspection::active(&info);
    /// assert_eq!(answer.scope.as_deref(), Some("read write"));
    /// assert_eq!(answer.sub.as_deref(), Some("reports"));
    /// assert_eq!(answer.token_type.as_deref(), Some("Bearer"));
    /// assert_eq!(answer.username, None);
    /// ```
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
