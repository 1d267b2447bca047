//! Bearer tokens in the `Authorization` header (RFC 6750 §2.1), as the kit's extractors
//! read them (`portcullis_axum::bearer`) and as the server's introspection endpoint
//! reads its callers' (`Authorization: Bearer` there too).
//!
//! Input: one header value per line (one or two lines: two headers).

#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::{authorization_header, Authorization};
use portcullis_axum::bearer::{from_headers, Presented};
use portcullis_fuzz::is_b64token;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.splitn(2, |&b| b == b'\n') {
        let Ok(value) = HeaderValue::from_bytes(line) else { return };
        headers.append(AUTHORIZATION, value);
    }
    let count = headers.get_all(AUTHORIZATION).iter().count();
    let first = headers.get(AUTHORIZATION).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    // A header value is read as text only when it is visible ASCII (RFC 9110 §5.5 leaves
    // other bytes opaque); anything else is not a credential either reads.
    let text = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let scheme = text.map(|t| t.split_once(' ').map_or(t, |(s, _)| s));
    let is_bearer = scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer"));

    let kit = from_headers(&headers);
    match kit {
        Presented::Token(token) => {
            assert_eq!(count, 1, "a token taken from one of several Authorization headers");
            // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token.
            assert!(is_bearer, "a token from scheme {scheme:?}");
            assert!(is_b64token(token), "the token {token:?} is not a b64token");
            let text = text.unwrap_or_default();
            let after_scheme = &text[6..];
            assert!(after_scheme.starts_with(' ') && after_scheme.trim_start_matches(' ') == token, "{text:?}");
        }
        Presented::Nothing => {
            // RFC 6750 §3.1: a request without a bearer token "lacks any authentication
            // information": no error code. Another scheme (Basic) is such a request.
            assert_eq!(count, 1);
            assert!(text.is_some() && !is_bearer, "{first:?} ignored");
        }
        Presented::Malformed(_) => {
            let rest = text.map(|t| t.split_once(' ').map_or("", |(_, r)| r).trim_start_matches(' '));
            assert!(
                count > 1 || text.is_none() || (is_bearer && !rest.is_some_and(is_b64token)),
                "{first:?} refused as malformed"
            );
        }
    }

    // The server's own reading, for its introspection callers, agrees on every token the
    // kit accepts: the same header must not mean two tokens.
    let server = authorization_header(&headers);
    if let Presented::Token(token) = kit {
        assert_eq!(server.as_ref().ok(), Some(&Authorization::Bearer(token.to_owned())), "{first:?}");
    }
    match server {
        Ok(Authorization::Bearer(token)) => {
            assert_eq!(count, 1);
            assert!(is_bearer && !token.is_empty());
            assert_eq!(Some(token.as_str()), text.and_then(|t| t.split_once(' ')).map(|(_, r)| r.trim()));
        }
        Ok(Authorization::None) => panic!("a header present read as none"),
        Ok(Authorization::Basic(_)) => assert!(scheme.is_some_and(|s| s.eq_ignore_ascii_case("basic"))),
        Err(_) => {}
    }
});
