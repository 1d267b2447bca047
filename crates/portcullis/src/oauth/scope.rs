//! Scopes (RFC 6749 §3.3): parsed once where they enter, each place with its failure
//! policy, and the rules for which scopes a request is granted.
//!
//! - What a client asks for ([`requested`]) is its input: malformed is `invalid_scope`.
//! - What the server stored when it granted a scope (a code's, a refresh token's, a
//!   device grant's) it wrote from a [`ScopeSet`]: one that no longer parses is a
//!   corrupt row, a server error, never a narrower or wider grant.
//! - A user's earlier consent only spares asking again: one that does not parse counts
//!   as none (`authorize::consented`).
//!
//! Then at the authorization, token and device endpoints the settings and the
//! application's allowed scopes decide ([`resolve`]); at a refresh, what was granted
//! before, less what the application is no longer allowed ([`refresh`], RFC 6749 §6).
//! The host's [`Hooks::allows_scope`](crate::hooks::Hooks::allows_scope) has the last
//! word on both.
//!
//! ```
//! use portcullis::oauth::{scope, ErrorCode};
//! use portcullis_axum::ScopeSet;
//!
//! let granted = ScopeSet::parse("read write").unwrap_or_default();
//! // No `scope` parameter: the whole grant.
//! assert_eq!(scope::narrow(None, &granted), Ok(granted.clone()));
//! let read = scope::requested(Some("read"))?;
//! assert_eq!(scope::narrow(read, &granted).map(|s| s.to_string()), Ok("read".to_owned()));
//! // Never wider than the grant.
//! let wider = scope::narrow(scope::requested(Some("read groups"))?, &granted);
//! assert_eq!(wider.map_err(|e| e.code), Err(ErrorCode::InvalidScope));
//! // Outside RFC 6749 §3.3's characters: refused as it enters.
//! assert_eq!(scope::requested(Some("caf\u{e9}")).map_err(|e| e.code), Err(ErrorCode::InvalidScope));
//! # Ok::<(), portcullis::oauth::OAuthError>(())
//! ```

use portcullis_axum::ScopeSet;

use super::OAuthError;
use crate::config::OAuth2Settings;
use crate::store::{Application, StoreError};

/// A request's `scope` parameter, parsed: `None` when the request has none (RFC 6749
/// §3.1: an empty one counts as none). A malformed one is `invalid_scope` (§5.2: "The
/// requested scope is invalid, unknown, malformed").
pub fn requested(raw: Option<&str>) -> Result<Option<ScopeSet>, OAuthError> {
    raw.map(|raw| ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))).transpose()
}

/// A scope the server stored when it granted it: a code's, a refresh token's or a
/// device grant's. Written from a [`ScopeSet`], so one that does not parse is a
/// corrupt row.
pub(crate) fn stored(raw: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Whether `app` may be granted `scope`: the scope is configured, and in the
/// application's own allowed list when it has one (a scope removed from the settings
/// stops being grantable at once). Checked in place rather than by building sets: the
/// token endpoint asks this for every grant.
fn is_allowed(settings: &OAuth2Settings, app: &Application, scope: &str) -> bool {
    settings.scopes.contains_key(scope) && app.settings.allowed_scopes.as_ref().is_none_or(|own| own.contains(scope))
}

/// The scopes to grant for a request's `scope` parameter. RFC 6749 §3.3: "If the client
/// omits the scope parameter when requesting authorization, the authorization server
/// MUST either process the request using a pre-defined default value or fail the
/// request indicating an invalid scope." Portcullis uses the configured defaults, and
/// fails when none of them is allowed for the application.
pub fn resolve(
    requested: Option<ScopeSet>,
    settings: &OAuth2Settings,
    app: &Application,
) -> Result<ScopeSet, OAuthError> {
    match requested {
        None => {
            let defaults = ScopeSet::from_tokens(
                settings.default_scopes.iter().filter(|s| is_allowed(settings, app, s)).map(String::as_str),
            );
            if defaults.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "no scope requested and no default scope is allowed for this client",
                ));
            }
            Ok(defaults)
        }
        Some(requested) => {
            if requested.is_empty() {
                return Err(OAuthError::invalid_scope("the scope parameter names no scope"));
            }
            if let Some(bad) = requested.iter().find(|s| !is_allowed(settings, app, s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} is unknown or not allowed for this client"
                )));
            }
            Ok(requested)
        }
    }
}

/// A narrower scope for a refresh (RFC 6749 §6): "The requested scope MUST NOT include
/// any scope not originally granted by the resource owner, and if omitted is treated as
/// equal to the scope originally granted by the resource owner."
pub fn narrow(requested: Option<ScopeSet>, granted: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    if requested.is_empty() || !requested.is_subset(granted) {
        return Err(OAuthError::invalid_scope("the requested scope exceeds the scope originally granted"));
    }
    Ok(requested)
}

/// What a refresh grants: the access token's scope, and the grant's scope from now on
/// (what the next refresh may ask for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new access token's scope.
    pub access: ScopeSet,
    /// What is left of the original grant: the scope the new refresh token carries.
    pub grant: ScopeSet,
}

/// The scope of a refresh (RFC 6749 §6) of a grant of `granted`, for `app` as it is
/// now: [`narrow`]'s rule, then only what the settings and the application's allowed
/// scopes allow today, since staff or the owner may have taken a scope away since the
/// grant, and a refresh must not keep what a new authorization could not get. The grant
/// shrinks with it, so a scope taken away stays gone from it.
///
/// A request that names a scope no longer allowed is refused with `invalid_scope`
/// (RFC 6749 §5.2: "The requested scope is invalid, unknown, malformed, or exceeds the
/// scope granted by the resource owner"). Without `scope`, the request "is treated as
/// equal to the scope originally granted" (§6), narrowed to what is left; when nothing
/// is, that is `invalid_scope` too, not `invalid_grant`: the refresh token is still
/// valid, unexpired, unrevoked and this client's (§5.2's list for `invalid_grant`), and
/// works again if the scope is allowed again. What fails is the scope.
pub fn refresh(
    requested: Option<ScopeSet>,
    granted: &ScopeSet,
    settings: &OAuth2Settings,
    app: &Application,
) -> Result<Refreshed, OAuthError> {
    let asked = requested.map(|requested| narrow(Some(requested), granted)).transpose()?;
    let grant = ScopeSet::from_tokens(granted.iter().filter(|s| is_allowed(settings, app, s)));
    let access = match asked {
        // Named in the request: each must still be allowed.
        Some(asked) => {
            if let Some(gone) = asked.iter().find(|s| !grant.contains(s)) {
                return Err(OAuthError::invalid_scope(format!("scope {gone:?} is no longer allowed for this client")));
            }
            asked
        }
        // The whole grant, as far as it is still allowed.
        None => grant.clone(),
    };
    if access.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the scopes originally granted is allowed for this client any more",
        ));
    }
    Ok(Refreshed { access, grant })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientType, GrantType, SigningAlgorithm};
    use crate::store::ApplicationSettings;

    /// A `scope` parameter as the request parses it.
    fn ask(raw: &str) -> Option<ScopeSet> {
        requested(Some(raw)).unwrap()
    }

    fn app(allowed: Option<&str>) -> Application {
        Application {
            id: 1,
            client_id: "c".into(),
            client_secret_hash: None,
            settings: ApplicationSettings {
                name: "n".into(),
                client_type: ClientType::Public,
                grant_types: vec![GrantType::Password],
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                allowed_origins: vec![],
                allowed_scopes: allowed.map(|s| ScopeSet::parse(s).unwrap()),
                skip_authorization: false,
                algorithm: SigningAlgorithm::Rs256,
                access_token_format: crate::proto::AccessTokenFormat::Opaque,
                resource_server_uris: vec![],
            },
            owner_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn defaults_and_limits() {
        let s = OAuth2Settings::default();
        assert_eq!(resolve(None, &s, &app(None)).unwrap().to_string(), "read");
        assert_eq!(resolve(ask("write read"), &s, &app(None)).unwrap().to_string(), "read write");
        assert_eq!(resolve(ask("admin"), &s, &app(None)).unwrap_err().code, super::super::ErrorCode::InvalidScope);
        assert!(resolve(ask("write"), &s, &app(Some("read"))).is_err());
        assert!(resolve(None, &s, &app(Some("write"))).is_err());
        // An app allowed a scope the settings no longer have cannot get it.
        assert!(resolve(ask("legacy"), &s, &app(Some("legacy read"))).is_err());
    }

    #[test]
    fn refresh_keeps_only_what_is_allowed_now() {
        let s = OAuth2Settings::default();
        let granted = ScopeSet::parse("read write").unwrap();
        let refreshed = |requested: Option<&str>, allowed: Option<&str>| {
            refresh(requested.and_then(ask), &granted, &s, &app(allowed))
                .map(|r| (r.access.to_string(), r.grant.to_string()))
        };
        let code = |requested: Option<&str>, allowed: Option<&str>| {
            refresh(requested.and_then(ask), &granted, &s, &app(allowed)).unwrap_err().code
        };
        assert_eq!(refreshed(None, None).unwrap(), ("read write".into(), "read write".into()));
        assert_eq!(refreshed(Some("read"), None).unwrap(), ("read".into(), "read write".into()), "§6 narrowing");
        // `write` taken from the application: gone from the token and from the grant.
        assert_eq!(refreshed(None, Some("read groups")).unwrap(), ("read".into(), "read".into()));
        assert_eq!(refreshed(Some("read"), Some("read")).unwrap(), ("read".into(), "read".into()));
        assert_eq!(code(Some("write"), Some("read")), super::super::ErrorCode::InvalidScope);
        assert_eq!(code(Some("read write"), Some("read")), super::super::ErrorCode::InvalidScope);
        // Nothing left: invalid_scope, the refresh token itself being valid.
        assert_eq!(code(None, Some("groups")), super::super::ErrorCode::InvalidScope);
        // A scope the settings no longer configure goes the same way.
        let mut fewer = OAuth2Settings::default();
        fewer.scopes.remove("write");
        let r = refresh(None, &granted, &fewer, &app(None)).unwrap();
        assert_eq!((r.access.to_string(), r.grant.to_string()), ("read".into(), "read".into()));
        // Never wider than the grant, whatever the application may have now.
        assert_eq!(code(Some("read groups"), None), super::super::ErrorCode::InvalidScope);
    }

    #[test]
    fn refresh_narrows_only() {
        let granted = ScopeSet::parse("read write").unwrap();
        assert_eq!(narrow(None, &granted).unwrap(), granted);
        assert_eq!(narrow(ask("read"), &granted).unwrap().to_string(), "read");
        assert!(narrow(ask("read groups"), &granted).is_err());
    }

    #[test]
    fn what_a_client_sends_is_parsed_once() {
        assert_eq!(requested(None), Ok(None));
        assert_eq!(requested(Some("write  read")), Ok(Some(ScopeSet::from_tokens(["read", "write"]))));
        assert_eq!(requested(Some("a\\b")).unwrap_err().code, super::super::ErrorCode::InvalidScope);
        assert!(matches!(stored("read \"x\""), Err(StoreError::Corrupt(_))));
    }
}
