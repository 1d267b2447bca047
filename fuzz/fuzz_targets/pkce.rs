//! PKCE (RFC 7636): the `code_challenge_method` names, the verifier's grammar, and the
//! check at the token endpoint.
//!
//! Input: the method (empty line: absent), the challenge, the verifier, one per line.

#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::{pkce_is_well_formed, pkce_method, pkce_verify};
use portcullis_fuzz::{fields, is_unreserved, present};
use sha2::{Digest, Sha256};

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn rfc7636_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(is_unreserved)
}

/// RFC 7636 §4.2: `code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts = fields(text, 3);
    let (method, challenge, verifier) = (present(parts[0]), parts[1], parts[2]);

    // RFC 7636 §4.3: "defaults to "plain" if not present"; §4.2 names exactly "plain"
    // and "S256" (case-sensitive: §7.2 leaves no room for "s256").
    let expected_method = match method {
        None | Some("plain") => Some("plain"),
        Some("S256") => Some("S256"),
        Some(_) => None,
    };
    assert_eq!(pkce_method(method), expected_method, "{method:?}");

    for value in [challenge, verifier] {
        assert_eq!(pkce_is_well_formed(value), rfc7636_verifier(value), "grammar of {value:?}");
    }

    for name in ["plain", "S256"] {
        let ok = pkce_verify(name, challenge, verifier);
        let expected = rfc7636_verifier(verifier)
            && match name {
                // RFC 7636 §4.6: plain: "code_verifier == code_challenge".
                "plain" => challenge == verifier,
                _ => challenge == s256(verifier),
            };
        assert_eq!(ok, Some(expected), "{name}: challenge {challenge:?}, verifier {verifier:?}");
    }
    if let Some(other) = method.filter(|m| expected_method.is_none() && !m.is_empty()) {
        assert_eq!(pkce_verify(other, challenge, verifier), None, "unknown method {other:?} accepted");
    }

    // A well-formed verifier always answers its own challenges.
    if rfc7636_verifier(verifier) {
        assert_eq!(pkce_verify("S256", &s256(verifier), verifier), Some(true));
        assert_eq!(pkce_verify("plain", verifier, verifier), Some(true));
        assert!(pkce_is_well_formed(&s256(verifier)), "an S256 challenge has the verifier's grammar (§4.2)");
    }
});
