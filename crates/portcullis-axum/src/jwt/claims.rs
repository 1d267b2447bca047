//! What RFC 9068 §4 asks a resource server to check of a JWT access token: its header
//! (`typ`, `alg`, `kid`), its signature by the provider's key, and its claims (`iss`,
//! `aud`, `exp`, `nbf`, `sub`, `client_id`, `scope`), at a time the caller gives.
//! Refusals carry a reason for the debug log, in words that hold nothing of the token.

use std::time::Duration;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::keys::Key;
use crate::wire::AccessClaims;
use crate::{ScopeSet, TokenInfo, VerifyError};

/// The signature algorithms accepted, one per key type: those the Portcullis server
/// signs with. All asymmetric: RFC 9068 §4 "The resource server MUST reject any JWT in
/// which the value of "alg" is "none"", and an HMAC algorithm would need a secret shared
/// with the provider, never a published key (a verifier that took one would let anyone
/// who read the JWKS sign tokens).
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Why a token was refused: a fixed phrase, never anything read from the token.
pub(super) type Refusal = &'static str;

/// What a token must say to be for this resource server.
pub(super) struct Expected {
    /// Compared exactly with `iss`.
    pub issuer: String,
    /// One of `aud`.
    pub audience: String,
    /// How long after `exp` (and before `nbf`) a token is still taken.
    pub leeway: Duration,
}

impl Expected {
    /// Tokens of `issuer` for `audience`, with no leeway.
    pub fn new(issuer: String, audience: String) -> Self {
        Self { issuer, audience, leeway: Duration::ZERO }
    }
}

/// The key id and algorithm a token's header names, if the header is one of an access
/// token signed as this kit accepts. Read unverified: it says which key to check the
/// rest with.
pub(super) fn header(token: &str) -> Result<(String, Algorithm), Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWS in compact form")?;
    if !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err("typ is not at+jwt");
    }
    // `none` does not even parse as a `jsonwebtoken` algorithm; HMAC and the others the
    // kit does not take stop here.
    if !ACCEPTED.contains(&header.alg) {
        return Err("alg is not RS256, ES256 or EdDSA");
    }
    let kid = header.kid.ok_or("no kid")?;
    Ok((kid, header.alg))
}

/// RFC 9068 §4: "The resource server MUST verify that the "typ" header value is "at+jwt"
/// or "application/at+jwt" and reject tokens carrying any other value." `typ` is a media
/// type, and RFC 7515 §4.1.9: "Per RFC 2045, all media type values, subtype values, and
/// parameter names are case insensitive", so `AT+JWT` is the same type. This keeps ID
/// tokens, signed with the same keys but typed `JWT`, from being taken for access
/// tokens (RFC 9068 §5).
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// The token's claims, if `key` signed it and its `iss` and `aud` are `expected`'s.
/// `Err` only when the signature cannot be checked at all.
pub(super) fn signed_claims(
    token: &str,
    key: &Key,
    expected: &Expected,
) -> Result<Result<AccessClaims, Refusal>, VerifyError> {
    // `jsonwebtoken` panics without exactly one crypto provider, which another crate in
    // the build could cause by enabling its `aws_lc_rs` feature too.
    if CryptoProvider::try_get_default().is_none() {
        return Err(VerifyError("jsonwebtoken has no crypto provider (both or neither of its backends)".into()));
    }
    // RFC 9068 §4: "The resource server MUST validate the signature of all incoming JWT
    // access tokens according to [RFC7515] using the algorithm specified in the JWT
    // "alg" Header Parameter", which must be the key's.
    let mut validation = Validation::new(key.alg);
    validation.set_issuer(&[&expected.issuer]);
    validation.set_audience(&[&expected.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Times are checked by `check`: `jsonwebtoken` accepts a token in the very second of
    // its `exp`, which RFC 9068 does not, and reads the clock itself.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    Ok(jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|error| reason(&error)))
}

/// Why `jsonwebtoken` refused a token, in words that cannot carry any of its contents.
fn reason(error: &jsonwebtoken::errors::Error) -> Refusal {
    match error.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAudience => "aud does not name this API",
        ErrorKind::InvalidIssuer => "iss is another issuer",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "alg does not fit the key",
        _ => "malformed token or claims",
    }
}

/// What a token with these (signature-checked) claims stands for at `now`, seconds
/// since the Unix epoch, if it is for this resource server and valid then.
pub(super) fn check(claims: AccessClaims, expected: &Expected, now: i64) -> Result<TokenInfo, Refusal> {
    // RFC 9068 §4: "The issuer identifier for the authorization server (which is
    // typically obtained during discovery) MUST exactly match the value of the "iss"
    // claim."
    if claims.iss != expected.issuer {
        return Err("iss is another issuer");
    }
    // RFC 9068 §4: "The resource server MUST validate that the "aud" claim contains a
    // resource indicator value corresponding to an identifier the resource server
    // expects for itself."
    if !claims.aud.contains(&expected.audience) {
        return Err("aud does not name this API");
    }
    let leeway = i64::try_from(expected.leeway.as_secs()).unwrap_or(i64::MAX);
    // RFC 9068 §4: "The current time MUST be before the time represented by the "exp"
    // claim."
    if now.saturating_sub(leeway) >= claims.exp {
        return Err("expired");
    }
    // RFC 7519 §4.1.5: "the current date/time MUST be after or equal to the not-before
    // date/time listed in the "nbf" claim".
    if claims.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err("not valid yet (nbf)");
    }
    // RFC 9068 §2.2.3: "scope" is a space-delimited list, as in RFC 6749 §3.3.
    let scope = ScopeSet::parse(claims.scope.as_deref().unwrap_or_default())
        .map_err(|_| "scope is not an RFC 6749 scope string")?;
    // RFC 9068 §2.2: "In cases of access tokens obtained through grants where no
    // resource owner is involved, such as the client credentials grant, the value of
    // "sub" SHOULD correspond to an identifier the authorization server uses to indicate
    // the client application."
    let user_id = (claims.sub != claims.client_id).then_some(claims.sub);
    Ok(TokenInfo {
        // RFC 9068 §3: "the resulting JWT access token "aud" claim SHOULD have the same
        // value as the "resource" parameter in the request". A `TokenVerifier` that
        // guards a resource checks it against that resource.
        audience: claims.aud.into_uris(),
        scope,
        client_id: claims.client_id,
        user_id,
        username: claims.username,
        expires_at: claims.exp,
        issued_at: claims.iat.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use crate::wire::Audience;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn expected(leeway: u64) -> Expected {
        Expected {
            issuer: "https://auth.example/o".into(),
            audience: "https://api.example/".into(),
            leeway: Duration::from_secs(leeway),
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example/o".into(),
            exp: NOW + 300,
            aud: Audience::One("https://api.example/".into()),
            sub: "7".into(),
            client_id: "c".into(),
            iat: Some(NOW),
            jti: Some("j-1".into()),
            scope: Some("read write".into()),
            nbf: None,
            username: Some("alice".into()),
        }
    }

    #[test]
    fn exp_and_nbf_are_checked_against_the_time_given() {
        let expected = expected(0);
        assert!(check(claims(), &expected, NOW).is_ok());
        // "before" exp: dead in its very second.
        assert_eq!(check(claims(), &expected, NOW + 299).map(|t| t.expires_at), Ok(NOW + 300));
        assert_eq!(check(claims(), &expected, NOW + 300), Err("expired"));
        let lenient = self::expected(10);
        assert!(check(claims(), &lenient, NOW + 309).is_ok());
        assert_eq!(check(claims(), &lenient, NOW + 310), Err("expired"));
        // nbf: valid from its second on, or a leeway earlier.
        let later = AccessClaims { nbf: Some(NOW + 60), ..claims() };
        assert_eq!(check(later.clone(), &expected, NOW + 59), Err("not valid yet (nbf)"));
        assert!(check(later.clone(), &expected, NOW + 60).is_ok());
        assert!(check(later, &lenient, NOW + 50).is_ok());
    }

    #[test]
    fn iss_aud_and_scope_are_checked_and_sub_names_the_user() {
        let expected = expected(0);
        let info = check(claims(), &expected, NOW).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((info.user_id.as_deref(), info.username.as_deref()), (Some("7"), Some("alice")));
        assert_eq!((info.client_id.as_str(), info.issued_at), ("c", NOW));
        assert_eq!(info.audience, ["https://api.example/"], "aud becomes the audience");
        let own = AccessClaims { sub: "c".into(), ..claims() };
        assert_eq!(check(own, &expected, NOW).map(|t| t.user_id), Ok(None));
        let elsewhere = AccessClaims { iss: "https://auth.example/o/".into(), ..claims() };
        assert_eq!(check(elsewhere, &expected, NOW), Err("iss is another issuer"));
        let several = AccessClaims { aud: Audience::Many(vec!["x".into(), "https://api.example/".into()]), ..claims() };
        assert!(check(several, &expected, NOW).is_ok());
        let other = AccessClaims { aud: Audience::Many(vec!["x".into()]), ..claims() };
        assert_eq!(check(other, &expected, NOW), Err("aud does not name this API"));
        let quoted = AccessClaims { scope: Some("read \"write\"".into()), ..claims() };
        assert!(check(quoted, &expected, NOW).is_err());
    }
}
