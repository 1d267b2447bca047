use http::header::AUTHORIZATION;
use http::HeaderMap;

/// What the `Authorization` header of a request says about a bearer token, as
/// [`from_headers`] reads it. The extractors turn each case into RFC 6750's answer; a
/// handler that reads the header itself does the same:
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use portcullis_axum::bearer::{from_headers, Presented};
///
/// fn status(headers: &HeaderMap) -> StatusCode {
///     match from_headers(headers) {
///         // RFC 6750 §3.1: no credentials at all, so a challenge without an error.
///         Presented::Nothing => StatusCode::UNAUTHORIZED,
///         Presented::Token(_) => StatusCode::OK,
///         Presented::Malformed(_) => StatusCode::BAD_REQUEST,
///     }
/// }
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(status(&headers), StatusCode::UNAUTHORIZED);
/// headers.insert("authorization", HeaderValue::from_static("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
/// assert_eq!(status(&headers), StatusCode::UNAUTHORIZED, "another scheme is no bearer token");
/// headers.insert("authorization", HeaderValue::from_static("Bearer mF_9.B5f-4.1JqM"));
/// assert_eq!(status(&headers), StatusCode::OK);
/// headers.append("authorization", HeaderValue::from_static("Bearer another"));
/// assert_eq!(status(&headers), StatusCode::BAD_REQUEST, "two Authorization headers");
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No `Authorization` header, or one for another scheme (such as `Basic`).
    /// RFC 6750 §3.1: such a request "lacks any authentication information", so the
    /// challenge carries no error code.
    Nothing,
    /// `Authorization: Bearer <token>` with a well-formed token.
    Token(&'a str),
    /// A `Bearer` header that breaks the grammar of RFC 6750 §2.1, or more than one
    /// `Authorization` header: `invalid_request`.
    Malformed(&'static str),
}

/// Reads the bearer token from the `Authorization` header (RFC 6750 §2.1):
///
/// ```text
/// b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
/// credentials = "Bearer" 1*SP b64token
/// ```
///
/// The scheme name is case-insensitive (RFC 7235 §2.1). Tokens in the query string or
/// the body (RFC 6750 §2.2, §2.3) are not accepted: they leak into logs and caches.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use portcullis_axum::bearer::{from_headers, Presented};
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(from_headers(&headers), Presented::Nothing);
/// headers.insert("authorization", HeaderValue::from_static("bearer mF_9.B5f-4.1JqM"));
/// assert_eq!(from_headers(&headers), Presented::Token("mF_9.B5f-4.1JqM"));
/// headers.insert("authorization", HeaderValue::from_static("Bearer two tokens"));
/// assert!(matches!(from_headers(&headers), Presented::Malformed(_)));
/// ```
pub fn from_headers(headers: &HeaderMap) -> Presented<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Presented::Nothing;
    };
    if values.next().is_some() {
        return Presented::Malformed("more than one Authorization header");
    }
    let Ok(value) = value.to_str() else {
        return Presented::Malformed("the Authorization header is not visible ASCII");
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Presented::Nothing;
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Presented::Token(token)
    } else {
        Presented::Malformed("the bearer token is missing or malformed")
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn reads_rfc6750_credentials() {
        assert_eq!(from_headers(&headers(&["Bearer mF_9.B5f-4.1JqM"])), Presented::Token("mF_9.B5f-4.1JqM"));
        assert_eq!(from_headers(&headers(&["bearer abc=="])), Presented::Token("abc=="));
        assert_eq!(from_headers(&headers(&["BEARER  a+b/c"])), Presented::Token("a+b/c"));
    }

    #[test]
    fn other_schemes_and_absence_are_not_errors() {
        assert_eq!(from_headers(&HeaderMap::new()), Presented::Nothing);
        assert_eq!(from_headers(&headers(&["Basic YTpi"])), Presented::Nothing);
    }

    #[test]
    fn grammar_violations_are_malformed() {
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer ==", "Bearer a=b", "Bearer a\"b"] {
            assert!(matches!(from_headers(&headers(&[bad])), Presented::Malformed(_)), "{bad}");
        }
        assert!(matches!(from_headers(&headers(&["Bearer a", "Bearer b"])), Presented::Malformed(_)));
    }
}
