use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::store::StoreError;

/// Error codes of the token, revocation and introspection endpoints: RFC 6749 §5.2,
/// RFC 7009 §2.2.1 and RFC 8628 §3.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// "The request is missing a required parameter, includes an unsupported parameter
    /// value (other than grant type), repeats a parameter, includes multiple
    /// credentials, utilizes more than one mechanism for authenticating the client, or
    /// is otherwise malformed." (RFC 6749 §5.2)
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client authentication
    /// included, or unsupported authentication method)." (RFC 6749 §5.2)
    InvalidClient,
    /// "The provided authorization grant … or refresh token is invalid, expired,
    /// revoked, does not match the redirection URI …, or was issued to another client."
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization grant type."
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization server."
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the scope granted
    /// by the resource owner."
    InvalidScope,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown, or malformed."
    InvalidTarget,
    /// RFC 7009 §2.2.1: the server does not revoke tokens of this type.
    UnsupportedTokenType,
    /// RFC 8628 §3.5: the user has not yet answered.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls too fast.
    SlowDown,
    /// RFC 8628 §3.5: the user said no.
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
}

impl ErrorCode {
    /// The `error` value on the wire (`invalid_request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// A protocol error: a code, a description for the developer, and whether the client
/// tried HTTP Basic (which decides the `401` challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// RFC 6749 §5.2 `error`.
    pub code: ErrorCode,
    /// RFC 6749 §5.2 `error_description`: "Human-readable ASCII text providing
    /// additional information, used to assist the client developer".
    pub description: Cow<'static, str>,
    /// Whether the answer is `401` with a `WWW-Authenticate: Basic` challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    /// An error with `code` and `description`, without a Basic challenge.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into(), basic_challenge: false }
    }

    /// `invalid_request`: the request is malformed.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`: the code, refresh token or credentials do not hold.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`: a scope is unknown, not allowed, or wider than granted.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_target` (RFC 8707 §2): a resource is malformed, not allowed, or beyond
    /// what the grant was authorized for.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `unauthorized_client`: the client may not use this grant.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    /// `invalid_client`; `basic` says whether the client used the Authorization header.
    pub fn invalid_client(basic: bool) -> Self {
        Self {
            code: ErrorCode::InvalidClient,
            description: "Client authentication failed".into(),
            basic_challenge: basic,
        }
    }

    /// RFC 6749 §5.2: "The authorization server responds with an HTTP 400 (Bad Request)
    /// status code (unless specified otherwise)"; for `invalid_client` it "MAY return an
    /// HTTP 401 (Unauthorized) status code to indicate which HTTP authentication schemes
    /// are supported. If the client attempted to authenticate via the "Authorization"
    /// request header field, the authorization server MUST respond with an HTTP 401".
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// Headers every token-endpoint answer carries, success or error (RFC 6749 §5.1).
pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A description as it may go on the wire. RFC 6749 §5.2 (and §4.1.2.1 for the
/// authorization endpoint): "Values for the "error_description" parameter MUST NOT
/// include characters outside the set %x20-21 / %x23-5B / %x5D-7E." Descriptions quote
/// what the client sent, which may be anything: a double quote becomes a single one, a
/// backslash a slash, and anything else outside the set (controls, non-ASCII) `?`.
pub(crate) fn wire_description(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5b}' | '\u{5d}'..='\u{7e}');
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '"' => '\'',
                '\\' => '/',
                c if allowed(c) => c,
                _ => '?',
            })
            .collect(),
    )
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let description = wire_description(&self.description);
        let body = ErrorBody { error: self.code.as_str(), error_description: &description };
        let mut response = (self.status(), Json(body)).into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"portcullis\""));
        }
        response
    }
}

/// Everything an OAuth endpoint can answer with besides success: a protocol error, or
/// a failure of ours, whose cause goes to the log and never to the client.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{}: {}", .0.code.as_str(), .0.description)]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Over a rate limit: `429` with `Retry-After`.
    #[error("too many requests; retry after {} s", .0.retry_after_seconds)]
    Throttled(crate::http::limits::Throttled),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<OAuthError> for EndpointError {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl IntoResponse for EndpointError {
    fn into_response(self) -> Response {
        // RFC 6749 names no error for an overloaded token endpoint; its authorization
        // endpoint's `temporarily_unavailable` (§4.1.2.1: "unable to handle the request
        // due to a temporary overloading") says the same, with the status and
        // `Retry-After` of RFC 6585 §4 and RFC 9110 §15.6.4.
        let (status, code, description, retry) = match self {
            Self::OAuth(error) => return error.into_response(),
            Self::Throttled(throttled) => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "Too many requests; retry after the time Retry-After gives",
                Some(throttled),
            ),
            Self::Store(StoreError::Unavailable(cause)) => {
                tracing::error!(%cause, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The server is temporarily unavailable",
                    Some(crate::http::limits::Throttled { retry_after_seconds: 1 }),
                )
            }
            other => {
                tracing::error!(error = %other, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server could not complete the request", None)
            }
        };
        let mut response = (status, Json(ErrorBody { error: code, error_description: description })).into_response();
        no_store(&mut response);
        if let Some(throttled) = retry {
            throttled.mark(&mut response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §5.2's character set for `error_description`: %x20-21 / %x23-5B / %x5D-7E.
    fn conforms(text: &str) -> bool {
        text.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
    }

    #[test]
    fn descriptions_on_the_wire_keep_to_rfc6749_5_2() {
        // Found by the token_request fuzz target: the unsupported grant type was quoted
        // with `{:?}`, double quotes and all.
        let quoted =
            OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant type {:?} is not supported", "bogus"));
        for text in [&*quoted.description, "caf\u{e9} \\ \"x\"\r\n\u{0}", "plain text stays"] {
            let wire = wire_description(text);
            assert!(conforms(&wire), "{wire:?}");
            assert_eq!(wire.chars().count(), text.chars().count(), "one character for one");
        }
        assert_eq!(wire_description(&quoted.description), "grant type 'bogus' is not supported");
        assert!(matches!(wire_description("plain text stays"), Cow::Borrowed(_)));
    }
}
