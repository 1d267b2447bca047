//! Proof Key for Code Exchange (RFC 7636).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::proto::CodeChallengeMethod;

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, with
/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`. A `plain` challenge is the
/// verifier itself, and an S256 challenge is 43 characters of base64url, so the same
/// grammar checks challenges (§4.2).
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: for S256, `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) ==
/// code_challenge`; for plain, `code_verifier == code_challenge`. Compared in constant
/// time.
pub fn verify(method: CodeChallengeMethod, challenge: &str, verifier: &str) -> bool {
    if !is_well_formed(verifier) {
        return false;
    }
    let derived = match method {
        CodeChallengeMethod::Plain => verifier.to_owned(),
        CodeChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
    };
    derived.len() == challenge.len() && bool::from(derived.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        // RFC 7636 Appendix B: the verifier and the S256 challenge it produces.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(CodeChallengeMethod::S256, challenge, verifier));
        assert!(!verify(CodeChallengeMethod::S256, challenge, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"));
        assert!(verify(CodeChallengeMethod::Plain, verifier, verifier));
        assert!(!verify(CodeChallengeMethod::Plain, challenge, verifier));
    }

    #[test]
    fn grammar_and_methods() {
        assert!(!is_well_formed(&"a".repeat(42)));
        assert!(is_well_formed(&"a".repeat(128)));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
    }
}
