//! The JSON the provider writes and resource servers read: the introspection answer
//! (RFC 7662 §2.2) and the claims of a JWT access token (RFC 9068 §2.2); and what a
//! protected resource publishes about itself (RFC 9728 §2). The Portcullis server
//! serializes these same types, so both sides agree on every member.

use serde::{Deserialize, Deserializer, Serialize};

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
    /// The resources the token is bound to (RFC 7662 §2.2 "aud", RFC 8707); absent for
    /// a token bound to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
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
    /// token a client holds for itself; `aud` the resources the token is bound to, when
    /// there are any.
    ///
    /// ```
    /// use portcullis_axum::wire::{Audience, Introspection};
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
    ///     audience: vec!["https://api.example/reports".into()],
    /// };
    /// let answer = Introspection::active(&info);
    /// assert_eq!(answer.scope.as_deref(), Some("read write"));
    /// assert_eq!(answer.sub.as_deref(), Some("reports"));
    /// assert_eq!(answer.token_type.as_deref(), Some("Bearer"));
    /// assert_eq!(answer.username, None);
    /// assert_eq!(answer.aud, Some(Audience::One("https://api.example/reports".into())));
    /// // Bound to no resource: no `aud` at all.
    /// assert_eq!(Introspection::active(&TokenInfo { audience: Vec::new(), ..info }).aud, None);
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
            aud: Audience::from_uris(info.audience.clone()),
        }
    }
}

/// A protected resource's metadata (RFC 9728 §2), as
/// [`ProtectedResource::metadata`](crate::ProtectedResource::metadata) writes it and a
/// client reads it. Members with no value are left out (RFC 9728 §3.2: "Parameters
/// with zero values MUST be omitted from the response").
///
/// ```
/// use portcullis_axum::wire::ResourceMetadata;
///
/// let body = r#"{"resource": "https://api.example/api",
///                "authorization_servers": ["https://auth.example/o"],
///                "scopes_supported": ["read"], "bearer_methods_supported": ["header"],
///                "resource_documentation": "https://api.example/docs"}"#;
/// let metadata: ResourceMetadata = serde_json::from_str(body)?;
/// assert_eq!(metadata.authorization_servers, ["https://auth.example/o"]);
/// assert_eq!(metadata.resource_name, None);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMetadata {
    /// "The protected resource's resource identifier": the one required member.
    pub resource: String,
    /// The issuer identifiers of the authorization servers whose tokens it takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The scopes used in authorization requests for this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a bearer token may be sent: `header`, `body` or `query` (RFC 6750 §2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// The claims of a JWT access token (RFC 9068 §2.2). The provider signs them, and
/// `JwtVerifier` (feature `jwt`) reads them once the signature is checked. `iss`, `exp`,
/// `aud`, `sub` and `client_id` are required; the rest is absent when `None`.
///
/// Reading is lenient where RFC 7519 allows it: a NumericDate may have a fraction
/// (dropped), and a `jti` that is not a string is ignored, since a resource server has
/// no use for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer, one string (RFC 7519 §4.1.1).
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    /// The resource servers the token is for.
    pub aud: Audience,
    /// The user's id, or for a token a client holds for itself, "the client identifier
    /// of the client" (RFC 9068 §2.2).
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Issue time, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_numeric_date")]
    pub iat: Option<i64>,
    /// A unique identifier of the token.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_ignored")]
    pub jti: Option<String>,
    /// The granted scopes, space-separated (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Not before, seconds since the Unix epoch (RFC 7519 §4.1.5).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_numeric_date")]
    pub nbf: Option<i64>,
    /// The user's login name. Not in RFC 9068, and not in the Portcullis server's tokens
    /// (which carry no identity claims: whoever holds a JWT can read it); read when
    /// another provider puts it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `aud` (RFC 7519 §4.1.3): one audience as a string, or several as an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, written as a string.
    One(String),
    /// Any number of audiences, written as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among them.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }

    /// The audiences `uris`, written as RFC 7519 §4.1.3 allows ("In the special case
    /// when the JWT has one audience, the "aud" value MAY be a single case-sensitive
    /// string"): one as a string, several as an array; `None` for none at all.
    ///
    /// ```
    /// use portcullis_axum::wire::Audience;
    ///
    /// assert_eq!(Audience::from_uris(vec![]), None);
    /// assert_eq!(Audience::from_uris(vec!["https://a.example/".into()]), Some(Audience::One("https://a.example/".into())));
    /// let two = Audience::from_uris(vec!["https://a.example/".into(), "https://b.example/".into()]);
    /// assert_eq!(two.map(Audience::into_uris).map(|uris| uris.len()), Some(2));
    /// ```
    pub fn from_uris(mut uris: Vec<String>) -> Option<Self> {
        match uris.len() {
            0 => None,
            1 => uris.pop().map(Self::One),
            _ => Some(Self::Many(uris)),
        }
    }

    /// Every audience, as a list.
    pub fn into_uris(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(all) => all,
        }
    }
}

/// RFC 7519 §2: a NumericDate is seconds since the epoch, "non-integer values can be
/// represented"; fractions are dropped.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| number.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
        .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))
}

fn optional_numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    numeric_date(deserializer).map(Some)
}

fn string_or_ignored<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Member {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Member::deserialize(deserializer)? {
        Member::Text(text) => Some(text),
        Member::Other(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example/o".into(),
            exp: 1_700_003_600,
            aud: Audience::One("https://api.example/".into()),
            sub: "7".into(),
            client_id: "photos".into(),
            iat: Some(1_700_000_000),
            jti: Some("t-1".into()),
            scope: Some("read write".into()),
            nbf: None,
            username: None,
        }
    }

    #[test]
    fn access_claims_write_only_what_is_there() {
        let written = serde_json::to_value(claims()).unwrap_or_default();
        assert_eq!(
            written,
            json!({
                "iss": "https://auth.example/o", "exp": 1_700_003_600, "aud": "https://api.example/",
                "sub": "7", "client_id": "photos", "iat": 1_700_000_000, "jti": "t-1", "scope": "read write",
            })
        );
        let bare = AccessClaims { iat: None, jti: None, scope: None, ..claims() };
        let written = serde_json::to_value(bare).unwrap_or_default();
        assert_eq!(written.as_object().map(|o| o.len()), Some(5));
    }

    #[test]
    fn access_claims_read_leniently_where_rfc_7519_allows() {
        let read: AccessClaims = serde_json::from_value(json!({
            "iss": "https://auth.example/o", "exp": 1_700_003_600.5, "aud": ["a", "https://api.example/"],
            "sub": "7", "client_id": "photos", "jti": 12, "nbf": 1_699_999_999.9,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((read.exp, read.nbf, read.jti), (1_700_003_600, Some(1_699_999_999), None));
        assert!(read.aud.contains("https://api.example/") && !read.aud.contains("b"));
        for (name, bad) in [("exp", json!("tomorrow")), ("iat", json!(null)), ("sub", json!(7)), ("aud", json!(5))] {
            let mut value = serde_json::to_value(claims()).unwrap_or_default();
            value[name] = bad;
            assert!(serde_json::from_value::<AccessClaims>(value).is_err(), "{name}");
        }
    }
}
