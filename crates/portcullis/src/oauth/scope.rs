//! Which scopes a request is granted: at the authorization, token and device endpoints
//! from the settings and the application's allowed scopes ([`resolve`], RFC 6749 §3.3),
//! and at a refresh from what was granted before ([`narrow`], RFC 6749 §6). The host's
//! [`Hooks::allows_scope`](crate::hooks::Hooks::allows_scope) has the last word on
//! the first.
//!
//! ```
//! use portcullis::oauth::{scope, ErrorCode};
//! use portcullis_axum::ScopeSet;
//!
//! let granted = ScopeSet::parse("read write").unwrap_or_default();
//! // No `scope` parameter: the whole grant.
//! assert_eq!(scope::narrow(None, &granted), Ok(granted.clone()));
//! assert_eq!(scope::narrow(Some("read"), &granted).map(|s| s.to_string()), Ok("read".to_owned()));
//! // Never wider than the grant.
//! let wider = scope::narrow(Some("read groups"), &granted);
//! assert_eq!(wider.map_err(|e| e.code), Err(ErrorCode::InvalidScope));
//! ```

use portcullis_axum::ScopeSet;

use super::OAuthError;
use crate::config::OAuth2Settings;
use crate::store::Application;

/// Whether `app` may be granted `scope`: the scope is configured, and in the
/// application's own allowed list when it has one (a scope removed from the settings
/// stops being grantable at once). Checked in place: the token endpoint asks this for
/// every grant, and building the sets per request was about 4% of a client-credentials
/// issuance's instructions (callgrind).
fn is_allowed(settings: &OAuth2Settings, app: &Application, scope: &str) -> bool {
    settings.scopes.contains_key(scope) && app.allowed_scopes.as_ref().is_none_or(|own| own.contains(scope))
}

/// The scopes to grant for a request's `scope` parameter. RFC 6749 §3.3: "If the client
/// omits the scope parameter when requesting authorization, the authorization server
/// MUST either process the request using a pre-defined default value or fail the
/// request indicating an invalid scope." Portcullis uses the configured defaults, and
/// fails when none of them is allowed for the application.
pub fn resolve(requested: Option<&str>, settings: &OAuth2Settings, app: &Application) -> Result<ScopeSet, OAuthError> {
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
        Some(raw) => {
            let requested = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
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
pub fn narrow(requested: Option<&str>, granted: &ScopeSet) -> Result<ScopeSet, OAuthError> {
    let Some(raw) = requested else {
        return Ok(granted.clone());
    };
    let requested = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    if requested.is_empty() || !requested.is_subset(granted) {
        return Err(OAuthError::invalid_scope("the requested scope exceeds the scope originally granted"));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClientType, GrantType};

    fn app(allowed: Option<&str>) -> Application {
        Application {
            id: 1,
            client_id: "c".into(),
            client_secret_hash: None,
            name: "n".into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::Password],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_origins: vec![],
            allowed_scopes: allowed.map(|s| ScopeSet::parse(s).unwrap()),
            skip_authorization: false,
            algorithm: "RS256".into(),
            access_token_format: crate::store::AccessTokenFormat::Opaque,
            owner_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn defaults_and_limits() {
        let s = OAuth2Settings::default();
        assert_eq!(resolve(None, &s, &app(None)).unwrap().to_string(), "read");
        assert_eq!(resolve(Some("write read"), &s, &app(None)).unwrap().to_string(), "read write");
        assert_eq!(resolve(Some("admin"), &s, &app(None)).unwrap_err().code, super::super::ErrorCode::InvalidScope);
        assert!(resolve(Some("write"), &s, &app(Some("read"))).is_err());
        assert!(resolve(None, &s, &app(Some("write"))).is_err());
        // An app allowed a scope the settings no longer have cannot get it.
        assert!(resolve(Some("legacy"), &s, &app(Some("legacy read"))).is_err());
    }

    #[test]
    fn refresh_narrows_only() {
        let granted = ScopeSet::parse("read write").unwrap();
        assert_eq!(narrow(None, &granted).unwrap(), granted);
        assert_eq!(narrow(Some("read"), &granted).unwrap().to_string(), "read");
        assert!(narrow(Some("read groups"), &granted).is_err());
    }
}
