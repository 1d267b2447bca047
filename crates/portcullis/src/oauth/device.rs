//! The device authorization grant (RFC 8628): the device's request (§3.1, §3.2), the
//! user codes people type (§6.1), and the user's answer. The token endpoint's side,
//! the polling, is `grant::device_code`.

use portcullis_axum::ScopeSet;
use rand::rngs::OsRng;
use rand::Rng;
use serde::Serialize;

use super::grant::Context;
use super::{scope, target, EndpointError, OAuthError, Params};
use crate::crypto::Secret;
use crate::proto::{DeviceStatus, GrantType};
use crate::store::{Application, DeviceGrantRecord, NewDeviceGrant, StoreError};

/// How long a device code and its user code live: RFC 8628 §3.2 `expires_in`.
pub const EXPIRES_SECONDS: i64 = 600;

/// RFC 8628 §6.1: "a base-20 character set of [BCDFGHJKLMNPQRSTVWXZ]", consonants only,
/// so that no letters are confused with digits (no O and 0, no I and 1) and no words
/// are spelt. Eight of them are about 34.5 bits, the §6.1 example's strength.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A new user code, as stored (no separator).
pub fn generate_user_code() -> String {
    (0..USER_CODE_LEN).map(|_| char::from(USER_CODE_ALPHABET[OsRng.gen_range(0..USER_CODE_ALPHABET.len())])).collect()
}

/// The code as people read it: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    let (head, tail) = code.split_at(code.len().min(4));
    if tail.is_empty() {
        head.to_owned()
    } else {
        format!("{head}-{tail}")
    }
}

/// What a person typed, as stored: §6.1 "the characters … SHOULD be case insensitive"
/// and punctuation and spaces are ignored. `None` if it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// §3.1: an authenticated client asks for a device code and a user code.
pub async fn start(
    ctx: &Context<'_>,
    app: &Application,
    params: &Params,
    verification_uri: &str,
) -> Result<DeviceAuthorization, EndpointError> {
    if !app.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client("this client may not use the device authorization grant").into());
    }
    let scope = ctx.scope(scope::requested(params.get("scope"))?, app)?;
    // RFC 8707 §2.1: "resource" may be sent with the device authorization request too.
    let resources = target::requested(params.resources(), &ctx.config.oauth2)?;
    let device_code = Secret::generate();
    let interval = i64::from(ctx.config.oauth2.device_flow_interval);
    // A clash of user codes is a unique-key violation: try again with another.
    for _ in 0..5 {
        let user_code = generate_user_code();
        let grant = NewDeviceGrant {
            device_code_hash: device_code.hash(),
            user_code: user_code.clone(),
            application_id: app.id,
            scope: scope.to_string(),
            resource: resources.to_string(),
            interval_seconds: interval,
            created_at: ctx.now,
            expires_at: ctx.now + EXPIRES_SECONDS,
        };
        match ctx.store.insert_device_grant(&grant).await {
            Ok(()) => {
                let shown = display_user_code(&user_code);
                let complete = format!("{verification_uri}?user_code={shown}");
                return Ok(DeviceAuthorization {
                    device_code: device_code.expose().to_owned(),
                    user_code: shown,
                    verification_uri: verification_uri.to_owned(),
                    verification_uri_complete: complete,
                    expires_in: EXPIRES_SECONDS,
                    interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(EndpointError::Internal("no free user code after five tries".into()))
}

/// Whether a grant can still be answered at `now`.
pub fn is_open(grant: &DeviceGrantRecord, now: i64) -> bool {
    grant.status == DeviceStatus::Pending && now < grant.expires_at
}

/// The grant's scopes, for the page that asks the user: as the token endpoint reads
/// them when the device polls, so a grant whose scope cannot be read is never shown
/// for approval.
pub fn scopes_of(grant: &DeviceGrantRecord) -> Result<ScopeSet, StoreError> {
    scope::stored(&grant.scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_easy_to_type() {
        for _ in 0..200 {
            let code = generate_user_code();
            assert_eq!(code.len(), 8);
            // No vowels, no digits: nothing to confuse (0/O, 1/I) and no words.
            assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_user_code(&display_user_code(&code)).as_deref(), Some(code.as_str()));
        }
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        // §6.1: case insensitive, separators and spaces ignored.
        assert_eq!(normalize_user_code(" bcdf-ghjk ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("bc df gh jk").as_deref(), Some("BCDFGHJK"));
        for bad in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ0", "", "ＢCDF-GHJK"] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }
}
