use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// Why a protected resource refused a request, with the realm for the challenge. It is
/// the extractors' rejection, and a response of its own: status, `WWW-Authenticate`
/// challenge (RFC 6750 §3), `Cache-Control: no-store` and a JSON body that names the
/// error code but never the token.
///
/// ```
/// use axum::response::IntoResponse;
/// use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
/// use http::StatusCode;
/// use portcullis_axum::error::{AuthError, AuthErrorKind};
///
/// let response = AuthError::new(AuthErrorKind::InvalidToken, "photos").into_response();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()[WWW_AUTHENTICATE], r#"Bearer realm="photos", error="invalid_token""#);
/// assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
/// ```
#[derive(Debug, Clone)]
pub struct AuthError {
    /// What was wrong.
    pub kind: AuthErrorKind,
    realm: Arc<str>,
    /// For a `401`: the scopes the request needs.
    scope: Option<String>,
    /// RFC 9728 §5.1: where the resource's metadata is.
    resource_metadata: Option<String>,
}

/// The refusals of RFC 6750 §3, plus "could not check". Each has its status, and all
/// but [`Unavailable`](AuthErrorKind::Unavailable) a challenge that tells the client
/// what to do next:
///
/// ```
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use portcullis_axum::error::{AuthError, AuthErrorKind};
///
/// let answers = [
///     (AuthErrorKind::Missing, StatusCode::UNAUTHORIZED),
///     (AuthErrorKind::InvalidRequest("two tokens"), StatusCode::BAD_REQUEST),
///     (AuthErrorKind::InvalidToken, StatusCode::UNAUTHORIZED),
///     (AuthErrorKind::InsufficientScope("write".into()), StatusCode::FORBIDDEN),
///     (AuthErrorKind::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
/// ];
/// for (kind, status) in answers {
///     let challenged = kind != AuthErrorKind::Unavailable;
///     let response = AuthError::new(kind, "api").into_response();
///     assert_eq!(response.status(), status);
///     // RFC 6750 §3: every refusal for want of a good token carries a challenge; a
///     // provider that is down is no reason for the client to fetch a new token.
///     assert_eq!(response.headers().contains_key("www-authenticate"), challenged);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthErrorKind {
    /// No credentials: `401`, a challenge without an error code (RFC 6750 §3.1).
    Missing,
    /// `invalid_request`, `400` (RFC 6750 §3.1).
    InvalidRequest(&'static str),
    /// `invalid_token`: unknown, expired, revoked, or bound to another resource (RFC
    /// 8707); `401` (RFC 6750 §3.1).
    InvalidToken,
    /// `insufficient_scope`: `403`, naming the scopes needed (RFC 6750 §3.1).
    InsufficientScope(String),
    /// The token could not be checked: `503`, so clients retry rather than give up.
    Unavailable,
}

impl AuthError {
    /// A refusal naming `realm` in its challenge. Handlers that check something more
    /// than the extractors do answer with one as well, here a token that must act for
    /// the user whose album it asks for:
    ///
    /// ```
    /// use axum::extract::Path;
    /// use axum::{routing::get, Router};
    /// use portcullis_axum::error::{AuthError, AuthErrorKind};
    /// use portcullis_axum::{Authenticated, TokenVerifier};
    ///
    /// async fn album(Path(owner): Path<String>, Authenticated(token): Authenticated) -> Result<String, AuthError> {
    ///     if token.user_id.as_deref() != Some(owner.as_str()) {
    ///         // RFC 6750 §3.1: "insufficient_scope", with the scope that would do.
    ///         return Err(AuthError::new(AuthErrorKind::InsufficientScope("admin".into()), "photos"));
    ///     }
    ///     Ok(format!("the album of user {owner}"))
    /// }
    ///
    /// fn routes() -> Router<TokenVerifier> {
    ///     Router::new().route("/albums/{owner}", get(album))
    /// }
    ///
    /// let refusal = AuthError::new(AuthErrorKind::InsufficientScope("admin".into()), "photos");
    /// assert_eq!(refusal.kind, AuthErrorKind::InsufficientScope("admin".into()));
    /// ```
    pub fn new(kind: AuthErrorKind, realm: &str) -> Self {
        Self { kind, realm: realm.into(), scope: None, resource_metadata: None }
    }

    /// Names, in a `401`'s challenge, the scopes the request needs (RFC 6750 §3: "The
    /// "scope" attribute is a space-delimited list of case-sensitive scope values
    /// indicating the required scope of the access token for accessing the requested
    /// resource"), so that a client without a token knows what to ask for. Only `401`s
    /// take it: a `403`'s scope is its [`InsufficientScope`](AuthErrorKind::InsufficientScope)'s.
    ///
    /// ```
    /// use portcullis_axum::error::{AuthError, AuthErrorKind};
    ///
    /// let missing = AuthError::new(AuthErrorKind::Missing, "photos").with_scope("read");
    /// assert_eq!(missing.challenge(), r#"Bearer realm="photos", scope="read""#);
    /// let malformed = AuthError::new(AuthErrorKind::InvalidRequest("two tokens"), "photos").with_scope("read");
    /// assert_eq!(malformed.challenge(), r#"Bearer realm="photos", error="invalid_request""#);
    /// ```
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Names the protected resource's metadata in the challenge (RFC 9728 §5.1,
    /// `resource_metadata`: "The URL of the protected resource metadata"), so that a
    /// client that knows only the API's URL finds the authorization server to ask.
    /// [`TokenVerifier::refuse`](crate::TokenVerifier::refuse) sets it from the
    /// verifier's [`ProtectedResource`](crate::ProtectedResource).
    ///
    /// ```
    /// use portcullis_axum::error::{AuthError, AuthErrorKind};
    ///
    /// let refusal = AuthError::new(AuthErrorKind::InvalidToken, "photos")
    ///     .with_resource_metadata("https://api.example/.well-known/oauth-protected-resource/photos");
    /// assert_eq!(
    ///     refusal.challenge(),
    ///     r#"Bearer realm="photos", error="invalid_token", resource_metadata="https://api.example/.well-known/oauth-protected-resource/photos""#
    /// );
    /// ```
    pub fn with_resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    fn parts(&self) -> (StatusCode, Option<&'static str>, Option<&str>) {
        match &self.kind {
            AuthErrorKind::Missing => (StatusCode::UNAUTHORIZED, None, None),
            AuthErrorKind::InvalidRequest(why) => (StatusCode::BAD_REQUEST, Some("invalid_request"), Some(why)),
            AuthErrorKind::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                Some("The access token is unknown, expired, revoked or meant for another resource"),
            ),
            AuthErrorKind::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                Some("The access token lacks a scope this request needs"),
            ),
            AuthErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None, None),
        }
    }

    /// The `WWW-Authenticate` value: `Bearer realm="…"` plus `error=`, `scope=` (for
    /// `insufficient_scope`, and for a `401` given [`with_scope`](Self::with_scope)),
    /// and `resource_metadata=` when given (RFC 6750 §3, RFC 9728 §5.1). A quote or a
    /// backslash in a scope or URL is dropped: it would end or escape the
    /// quoted-string.
    ///
    /// ```
    /// use portcullis_axum::error::{AuthError, AuthErrorKind};
    ///
    /// // RFC 6750 §3: a request without credentials gets no error code.
    /// assert_eq!(AuthError::new(AuthErrorKind::Missing, "photos").challenge(), r#"Bearer realm="photos""#);
    /// let weak = AuthError::new(AuthErrorKind::InsufficientScope("read write".into()), "photos");
    /// assert_eq!(weak.challenge(), r#"Bearer realm="photos", error="insufficient_scope", scope="read write""#);
    /// ```
    pub fn challenge(&self) -> String {
        let mut value = format!("Bearer realm=\"{}\"", self.realm);
        let (status, code, _) = self.parts();
        if let Some(code) = code {
            value.push_str(&format!(", error=\"{code}\""));
        }
        let scope = match &self.kind {
            AuthErrorKind::InsufficientScope(scope) => Some(scope.as_str()),
            _ if status == StatusCode::UNAUTHORIZED => self.scope.as_deref(),
            _ => None,
        };
        if let Some(scope) = scope {
            value.push_str(&format!(", scope=\"{}\"", quotable(scope)));
        }
        if let Some(url) = &self.resource_metadata {
            value.push_str(&format!(", resource_metadata=\"{}\"", quotable(url)));
        }
        value
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code, description) = self.parts();
        let body = match (code, description) {
            (Some(code), Some(description)) => {
                json!({ "error": code, "error_description": description })
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                json!({ "error": "temporarily_unavailable", "error_description": "The access token cannot be checked right now" })
            }
            _ => json!({ "error_description": "Authentication credentials were not provided" }),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status != StatusCode::SERVICE_UNAVAILABLE {
            if let Ok(value) = HeaderValue::from_str(&self.challenge()) {
                headers.insert(WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// `text` without what cannot stand in an RFC 7230 §3.2.6 quoted-string as it is:
/// quotes, backslashes and control characters.
fn quotable(text: &str) -> String {
    text.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750_section_3() {
        assert_eq!(AuthError::new(AuthErrorKind::Missing, "api").challenge(), "Bearer realm=\"api\"");
        assert_eq!(
            AuthError::new(AuthErrorKind::InvalidToken, "api").challenge(),
            "Bearer realm=\"api\", error=\"invalid_token\""
        );
        assert_eq!(
            AuthError::new(AuthErrorKind::InsufficientScope("read write".into()), "api").challenge(),
            "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read write\""
        );
    }

    /// The challenge's auth-params as `http-auth`, a client-side parser, reads them.
    fn parsed(error: &AuthError) -> Vec<(String, String)> {
        let challenge = error.challenge();
        let challenges = http_auth::parse_challenges(&challenge).unwrap();
        assert_eq!(challenges.len(), 1, "{challenge}");
        assert_eq!(challenges[0].scheme, "Bearer");
        challenges[0].params.iter().map(|(name, value)| ((*name).to_owned(), value.to_unescaped())).collect()
    }

    #[test]
    fn rfc9728_5_1_challenges_parse_back() {
        let metadata = "https://api.example/.well-known/oauth-protected-resource/api?t=a,b";
        let pairs =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
        let missing =
            AuthError::new(AuthErrorKind::Missing, "api").with_scope("read write").with_resource_metadata(metadata);
        assert_eq!(
            parsed(&missing),
            pairs(&[("realm", "api"), ("scope", "read write"), ("resource_metadata", metadata)])
        );
        let weak = AuthError::new(AuthErrorKind::InsufficientScope("groups".into()), "api")
            .with_scope("ignored: a 403 names its own")
            .with_resource_metadata(metadata);
        assert_eq!(
            parsed(&weak),
            pairs(&[
                ("realm", "api"),
                ("error", "insufficient_scope"),
                ("scope", "groups"),
                ("resource_metadata", metadata)
            ])
        );
        // What would break the quoted-string is dropped, not passed on.
        let odd = AuthError::new(AuthErrorKind::InvalidToken, "api").with_scope("a\"b\\c\n");
        assert_eq!(parsed(&odd), pairs(&[("realm", "api"), ("error", "invalid_token"), ("scope", "abc")]));
    }
}
