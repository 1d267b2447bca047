use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// Why a protected resource refused a request, with the realm for the challenge.
#[derive(Debug, Clone)]
pub struct AuthError {
    /// What was wrong.
    pub kind: AuthErrorKind,
    realm: Arc<str>,
}

/// The refusals of RFC 6750 §3, plus "could not check".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthErrorKind {
    /// No credentials: `401`, a challenge without an error code (RFC 6750 §3.1).
    Missing,
    /// `invalid_request`, `400` (RFC 6750 §3.1).
    InvalidRequest(&'static str),
    /// `invalid_token`: unknown, expired or revoked; `401` (RFC 6750 §3.1).
    InvalidToken,
    /// `insufficient_scope`: `403`, naming the scopes needed (RFC 6750 §3.1).
    InsufficientScope(String),
    /// The token could not be checked: `503`, so clients retry rather than give up.
    Unavailable,
}

impl AuthError {
    /// A refusal naming `realm` in its challenge. Handlers that check something more
    /// than the extractors do answer with one as well:
    ///
    /// ```
    /// use portcullis_axum::error::{AuthError, AuthErrorKind};
    ///
    /// let refusal = AuthError::new(AuthErrorKind::InsufficientScope("admin".into()), "photos");
    /// assert_eq!(
    ///     refusal.challenge(),
    ///     r#"Bearer realm="photos", error="insufficient_scope", scope="admin""#
    /// );
    /// ```
    pub fn new(kind: AuthErrorKind, realm: &str) -> Self {
        Self { kind, realm: realm.into() }
    }

    fn parts(&self) -> (StatusCode, Option<&'static str>, Option<&str>) {
        match &self.kind {
            AuthErrorKind::Missing => (StatusCode::UNAUTHORIZED, None, None),
            AuthErrorKind::InvalidRequest(why) => (StatusCode::BAD_REQUEST, Some("invalid_request"), Some(why)),
            AuthErrorKind::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                Some("The access token is unknown, expired or revoked"),
            ),
            AuthErrorKind::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                Some("The access token lacks a scope this request needs"),
            ),
            AuthErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None, None),
        }
    }

    /// The `WWW-Authenticate` value: `Bearer realm="…"` plus `error=` and, for
    /// `insufficient_scope`, `scope=` (RFC 6750 §3).
    pub fn challenge(&self) -> String {
        let mut value = format!("Bearer realm=\"{}\"", self.realm);
        let (_, code, _) = self.parts();
        if let Some(code) = code {
            value.push_str(&format!(", error=\"{code}\""));
        }
        if let AuthErrorKind::InsufficientScope(scope) = &self.kind {
            value.push_str(&format!(", scope=\"{scope}\""));
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
}
