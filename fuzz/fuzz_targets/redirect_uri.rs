//! Redirection URIs (RFC 6749 §3.1.2): registration, the exact match of a request's
//! `redirect_uri` against the registered ones (but for a loopback URI's port, RFC 8252
//! §7.3), the `Location` the authorization endpoint answers with, the token endpoint's
//! check that a code comes back with its URI, and the login page's `next` target.
//!
//! Input, one per line: two registered URIs (the second may be empty), the request's
//! `redirect_uri` (empty: absent), `state`, and a login `next`.

#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::{
    code_redirect_matches, error_location, safe_next, select_redirect_uri, validate_registered_redirect_uri,
};
use portcullis_fuzz::{fields, present};
use url::Url;

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port() == b.port() && a.path() == b.path()
}

/// Whether `requested` may stand for `registered` though the strings differ: plain
/// http to a loopback host, the same everywhere but in the port.
fn loopback_port_only(registered: &str, requested: &str, localhost: bool) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else { return false };
    let loopback = match a.host_str() {
        Some("127.0.0.1" | "[::1]") => true,
        Some("localhost") => localhost,
        _ => false,
    };
    loopback
        && a.scheme() == "http"
        && b.scheme() == "http"
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        && a.username().is_empty()
        && b.username().is_empty()
        && a.password().is_none()
        && b.password().is_none()
}

const ISSUER: &str = "https://portcullis.example/o";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts = fields(text, 5);
    let (a, b, requested, state, next) = (parts[0], parts[1], present(parts[2]), present(parts[3]), parts[4]);
    let schemes = vec!["http".to_owned(), "https".to_owned(), "com.example.app".to_owned()];

    // Registration (RFC 6749 §3.1.2): absolute, no fragment, an allowed scheme.
    let mut registered = Vec::new();
    for uri in [a, b].into_iter().filter(|u| !u.is_empty()) {
        if validate_registered_redirect_uri(uri, &schemes).is_ok() {
            let parsed = Url::parse(uri).unwrap_or_else(|e| panic!("registered {uri:?}, which does not parse: {e}"));
            assert!(parsed.fragment().is_none(), "registered {uri:?} with a fragment");
            assert!(schemes.iter().any(|s| s == parsed.scheme()), "registered {uri:?}");
            assert!(!uri.chars().any(|c| c.is_whitespace() || c.is_control()), "registered {uri:?}");
            assert!(!parsed.cannot_be_a_base());
            registered.push(uri.to_owned());
        }
    }

    // The authorization request: an exact string match (but for a loopback port), or
    // the only registered URI.
    let localhost = state.is_some_and(|s| s.len() % 2 == 1);
    let selected = select_redirect_uri(&registered, requested, localhost);
    match &selected {
        Ok((uri, given)) => {
            assert!(
                registered.iter().any(|r| r == uri || loopback_port_only(r, uri, localhost)),
                "{uri:?} is not registered"
            );
            assert_eq!(*given, requested.is_some());
            if let Some(requested) = requested {
                assert_eq!(uri, requested);
            } else {
                assert_eq!(registered.len(), 1, "chose for the client among {registered:?}");
            }
        }
        Err(_) => assert!(
            requested.is_some_and(|r| !registered.iter().any(|x| x == r))
                || (requested.is_none() && registered.len() != 1),
            "refused {requested:?} among {registered:?}"
        ),
    }
    // An exact match is never refused, whatever the port rule.
    if let Some(requested) = requested {
        if registered.iter().any(|r| r == requested) {
            assert!(selected.is_ok(), "refused the registered {requested:?}");
        }
    }

    if let Ok((uri, given)) = &selected {
        // The token request must come back with the same URI (RFC 6749 §4.1.3).
        let issued = if *given { uri.as_str() } else { "" };
        for candidate in [None, requested, Some(uri.as_str()), Some(a), Some(b)] {
            if code_redirect_matches(issued, &registered, candidate) {
                match candidate {
                    Some(c) => assert_eq!(c, uri, "a code for {uri:?} redeemed with {c:?}"),
                    None => assert!(!given, "the request named {uri:?}, the token request none"),
                }
            }
        }

        // Whatever the state, the answer goes to the registered endpoint and nowhere
        // else, as a header value that survives (no CR or LF), with the state intact.
        let target = Url::parse(uri).unwrap_or_else(|e| panic!("{uri:?}: {e}"));
        for response_type in ["code", "token", "code id_token"] {
            let Some(location) = error_location(uri, response_type, state, "a description", ISSUER) else {
                panic!("no location for {response_type}")
            };
            assert!(HeaderValue::from_str(&location).is_ok(), "Location {location:?} is not a header value");
            let went = Url::parse(&location).unwrap_or_else(|e| panic!("Location {location:?}: {e}"));
            assert!(same_endpoint(&went, &target), "{location:?} leaves {uri:?}");
            let in_fragment = response_type != "code";
            let answer: Vec<(String, String)> = if in_fragment {
                assert_eq!(went.query(), target.query(), "the registered query is kept (RFC 6749 §3.1.2)");
                form_urlencoded::parse(went.fragment().unwrap_or_default().as_bytes()).into_owned().collect()
            } else {
                assert_eq!(went.fragment(), None);
                let kept: Vec<_> = target.query_pairs().collect();
                let all: Vec<_> = went.query_pairs().collect();
                assert_eq!(&all[..kept.len()], &kept[..], "the registered query is kept (RFC 6749 §3.1.2)");
                all[kept.len()..].iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
            };
            let echoed: Vec<&str> = answer.iter().filter(|(n, _)| n == "state").map(|(_, v)| v.as_str()).collect();
            // RFC 6749 §4.1.2.1: "state: REQUIRED if a "state" parameter was present in
            // the client authorization request. The exact value received from the client."
            assert_eq!(echoed, state.into_iter().collect::<Vec<_>>(), "{location:?}");
            assert_eq!(answer.iter().filter(|(n, _)| n == "error").count(), 1, "{location:?}");
            // RFC 9207 §2: "In authorization responses to the client, including error
            // responses, an authorization server supporting this specification MUST
            // indicate its identity by including the iss parameter in the response."
            let iss: Vec<&str> = answer.iter().filter(|(n, _)| n == "iss").map(|(_, v)| v.as_str()).collect();
            assert_eq!(iss, [ISSUER], "{location:?}");
        }
    }

    // The login page's `next`: a path on this site, never another origin.
    if let Some(path) = safe_next(next) {
        assert_eq!(path, next);
        let base = Url::parse("https://portcullis.example/accounts/login/").unwrap_or_else(|_| unreachable!());
        if let Ok(to) = base.join(path) {
            assert_eq!(to.origin(), base.origin(), "next {next:?} leads to {to}");
        }
    }
});
