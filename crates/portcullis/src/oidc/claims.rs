//! What ID tokens and UserInfo say about a user (OpenID Connect Core §2, §5.1, §5.4),
//! and the hashes that bind an ID token to the access token and code issued with it
//! (§3.1.3.6, §3.3.2.11). Pure: no I/O, the time is an argument.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_axum::ScopeSet;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use crate::proto::SigningAlgorithm;
use crate::store::{Application, User};

/// The claims of scopes `profile` and `email` that Portcullis has data for (Core §5.4).
/// Each is absent unless its scope was granted; empty names are left out (§5.3.2: "If a
/// Claim is not returned, that Claim Name SHOULD be omitted").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Portcullis does not verify addresses, so this is always `false` when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// `sub` is the user's id, as introspection gives it: stable, never reassigned, and the
/// same for every client (Core §8, subject type `public`).
pub fn user_claims(user: &User, scope: &ScopeSet) -> UserClaims {
    let present = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut claims = UserClaims { sub: user.id.to_string(), ..UserClaims::default() };
    if scope.contains("profile") {
        let full = format!("{} {}", user.first_name, user.last_name);
        claims.name = present(full.trim());
        claims.given_name = present(&user.first_name);
        claims.family_name = present(&user.last_name);
        claims.preferred_username = Some(user.username.clone());
    }
    if scope.contains("email") {
        claims.email = present(&user.email);
        claims.email_verified = claims.email.as_ref().map(|_| false);
    }
    claims
}

/// An ID token's claims (Core §2).
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    /// Core §2: "azp … MAY be included even when the authorized party is the same as
    /// the sole audience"; some relying-party libraries check it, so it is always there.
    pub azp: String,
    #[serde(flatten)]
    pub user: UserClaims,
}

/// What an ID token says about whom, for which client, and about which login; the
/// grant that issues it knows these. The issuer, the time and the lifetime come from
/// the server.
pub struct IdTokenInput<'a> {
    pub app: &'a Application,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub nonce: Option<&'a str>,
    /// When the user logged in (Core §2 `auth_time`).
    pub auth_time: i64,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The code issued with it (hybrid flow), for `c_hash`.
    pub code: Option<&'a str>,
}

/// The claims of an ID token issued by `issuer` at `now`, valid for `lifetime_seconds`.
pub fn id_token_claims(
    input: &IdTokenInput<'_>,
    issuer: &str,
    now: i64,
    lifetime_seconds: i64,
    alg: SigningAlgorithm,
) -> IdTokenClaims {
    IdTokenClaims {
        iss: issuer.to_owned(),
        aud: input.app.client_id.clone(),
        exp: now + lifetime_seconds,
        iat: now,
        auth_time: input.auth_time,
        nonce: input.nonce.map(str::to_owned),
        at_hash: input.access_token.map(|t| half_hash(alg, t)),
        c_hash: input.code.map(|c| half_hash(alg, c)),
        azp: input.app.client_id.clone(),
        user: user_claims(input.user, input.scope),
    }
}

/// Core §3.1.3.6: "Its value is the base64url encoding of the left-most half of the hash
/// of the octets of the ASCII representation of the access_token value, where the hash
/// algorithm used is the hash algorithm used in the alg Header Parameter of the ID
/// Token's JOSE Header." RS256 and ES256 hash with SHA-256; Ed25519 signs with SHA-512
/// (RFC 8032 §5.1), which is what relying-party libraries use for EdDSA.
pub fn half_hash(alg: SigningAlgorithm, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => Sha256::digest(value.as_bytes()).to_vec(),
        SigningAlgorithm::EdDsa => Sha512::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 42,
            username: "alice".into(),
            email: "alice@example.com".into(),
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            password_hash: None,
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: 0,
            last_login: None,
        }
    }

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn claims_follow_the_granted_scopes() {
        // Core §5.4: "profile … name, family_name, given_name, … preferred_username";
        // "email … email and email_verified Claims."
        let only = user_claims(&user(), &scope("openid"));
        assert_eq!(only, UserClaims { sub: "42".into(), ..UserClaims::default() });
        let profile = user_claims(&user(), &scope("openid profile"));
        assert_eq!(profile.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(profile.given_name.as_deref(), Some("Alice"));
        assert_eq!(profile.family_name.as_deref(), Some("Liddell"));
        assert_eq!(profile.preferred_username.as_deref(), Some("alice"));
        assert_eq!((profile.email, profile.email_verified), (None, None));
        let email = user_claims(&user(), &scope("openid email"));
        assert_eq!((email.email.as_deref(), email.email_verified), (Some("alice@example.com"), Some(false)));
        assert_eq!(email.name, None);
    }

    #[test]
    fn empty_names_are_omitted() {
        let nameless = User { first_name: String::new(), last_name: String::new(), email: String::new(), ..user() };
        let claims = user_claims(&nameless, &scope("openid profile email"));
        assert_eq!((claims.name, claims.given_name, claims.family_name), (None, None, None));
        assert_eq!((claims.email, claims.email_verified), (None, None));
        assert_eq!(claims.preferred_username.as_deref(), Some("alice"));
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_hash() {
        // A published worked example (PingFederate's developer guide): RS256, access
        // token "dNZX1hEZ9wBCzNL40Upu646bdzQA", at_hash "wfgvmE9VxjAudsl9lc6TqA".
        let at = half_hash(SigningAlgorithm::Rs256, "dNZX1hEZ9wBCzNL40Upu646bdzQA");
        assert_eq!(at, "wfgvmE9VxjAudsl9lc6TqA");
        // 16 bytes of SHA-256, 32 of SHA-512, in base64url without padding.
        assert_eq!(half_hash(SigningAlgorithm::Es256, "x").len(), 22);
        assert_eq!(half_hash(SigningAlgorithm::EdDsa, "x").len(), 43);
    }
}
