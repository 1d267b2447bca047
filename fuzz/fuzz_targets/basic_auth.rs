//! HTTP Basic client authentication (RFC 6749 §2.3.1, RFC 7617) at the token,
//! revocation and introspection endpoints.
//!
//! Input: the decoded `client_id:client_secret` on the first line (the harness
//! base64-encodes it), a form body on the second. The first line is also tried as a
//! whole `Authorization` header value, so the scheme and base64 parsing get fuzzed too.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::{authorization_header, body_params, client_credentials, Authorization};
use portcullis::oauth::ErrorCode;

fn headers(authorization: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, authorization);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers
}

fn basic(client_id: &str, secret: &str) -> HeaderValue {
    // RFC 6749 §2.3.1: each part form-urlencoded, then Basic's base64 (RFC 7617 §2).
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let Ok(value) = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))) else {
        unreachable!("base64 is always a valid header value")
    };
    value
}

fuzz_target!(|data: &[u8]| {
    let (decoded, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(value) = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(decoded))) else { return };
    let headers = headers(value);

    match authorization_header(&headers) {
        Ok(Authorization::Basic(c)) => {
            let text = std::str::from_utf8(decoded).unwrap_or_else(|_| panic!("accepted non-UTF-8 {decoded:?}"));
            let Some((id_raw, secret_raw)) = text.split_once(':') else {
                panic!("accepted credentials without a colon: {text:?}")
            };
            assert!(!c.client_id.is_empty(), "an empty client id from {text:?}");
            let control = |s: &str| s.chars().any(|c| c.is_ascii_control());
            assert!(!control(&c.client_id) && !c.client_secret.as_deref().is_some_and(control), "{text:?}");
            // A colon in the id can only have come percent-encoded: the first colon of
            // the decoded string separates id and secret (RFC 7617 §2).
            if c.client_id.contains(':') {
                let lower = id_raw.to_ascii_lowercase();
                assert!(
                    lower.contains("%3a"),
                    "client id {:?} has a colon that was not encoded in {text:?}",
                    c.client_id
                );
            }
            // Nothing to decode: taken as it is.
            if !id_raw.contains(['%', '+']) {
                assert_eq!(c.client_id, id_raw);
            }
            if !secret_raw.contains(['%', '+']) {
                assert_eq!(c.client_secret.as_deref(), (!secret_raw.is_empty()).then_some(secret_raw));
            }
            assert!(c.client_secret.as_deref() != Some(""), "an empty secret is no secret");
            assert!(c.basic);
            // What was read, encoded again as a client would, reads the same.
            let again = basic(&c.client_id, c.client_secret.as_deref().unwrap_or(""));
            assert_eq!(authorization_header(&self::headers(again)).ok(), Some(Authorization::Basic(c.clone())));

            // RFC 6749 §2.3: "The client MUST NOT use more than one authentication
            // method in each request": a body secret beside Basic is refused, and a body
            // client_id must be the same client.
            if let Ok(params) = body_params(&headers, body) {
                let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                match client_credentials(&headers, body) {
                    Ok(Some(found)) => {
                        assert_eq!(found, c);
                        assert_eq!(get("client_secret"), None, "Basic and a body secret accepted together");
                        assert!(get("client_id").is_none_or(|id| id == c.client_id), "two client ids accepted");
                    }
                    Ok(None) => panic!("Basic credentials lost"),
                    Err(e) => {
                        assert_eq!(e.code, ErrorCode::InvalidRequest);
                        assert!(get("client_secret").is_some() || get("client_id").is_some_and(|id| id != c.client_id));
                    }
                }
            }
        }
        Ok(other) => panic!("a Basic header read as {other:?}"),
        Err(e) => {
            // Malformed credentials are a malformed request, never a silent "no client".
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{decoded:?}");
            let ok = std::str::from_utf8(decoded).ok().and_then(|t| t.split_once(':'));
            // RFC 6749 Appendix A: client_id and client_secret are *VSCHAR, so a control
            // character (a NUL above all) may be refused.
            let control = |s: &str| s.chars().any(|c| c.is_ascii_control());
            assert!(
                ok.is_none_or(|(id, secret)| id.is_empty()
                    || id.contains('%')
                    || secret.contains('%')
                    || control(id)
                    || control(secret)),
                "refused well-formed credentials {decoded:?}"
            );
        }
    }

    // The first line as a whole header value: any scheme, any base64.
    let Ok(raw) = HeaderValue::from_bytes(decoded) else { return };
    let text = String::from_utf8_lossy(decoded).into_owned();
    let (scheme, rest) = text.split_once(' ').unwrap_or((&text, ""));
    match authorization_header(&self::headers(raw)) {
        Ok(Authorization::Basic(_)) => assert!(scheme.eq_ignore_ascii_case("basic"), "{text:?}"),
        Ok(Authorization::Bearer(token)) => {
            assert!(scheme.eq_ignore_ascii_case("bearer"), "{text:?}");
            assert_eq!(token, rest.trim());
            assert!(!token.is_empty());
        }
        Ok(Authorization::None) => panic!("a header present read as none: {text:?}"),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with
            // WWW-Authenticate.
            assert!(e.basic_challenge, "invalid_client after an Authorization header, without a challenge");
            assert!(!scheme.eq_ignore_ascii_case("basic"), "{text:?}");
        }
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidRequest, "{text:?}: {e:?}"),
    }
});
