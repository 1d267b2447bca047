//! Resource indicators (RFC 8707) at the OAuth endpoints: which resources a request may
//! ask for, and which a token request gets of what its grant was authorized for. The
//! values themselves are [`Resources`]; this is where the settings and the grant come in.
//!
//! ```
//! use portcullis::config::Config;
//! use portcullis::oauth::{target, ErrorCode};
//! use portcullis::proto::Resources;
//!
//! let mut settings = Config::defaults().oauth2;
//! let api = target::requested(["https://api.example/"], &settings)?;
//! assert_eq!(api.to_string(), "https://api.example/");
//! // RFC 8707 §2: a relative URI, a fragment, or one the server does not allow is
//! // `invalid_target`.
//! assert_eq!(target::requested(["/api"], &settings).map_err(|e| e.code), Err(ErrorCode::InvalidTarget));
//! settings.allowed_resources = vec!["https://api.example/".into()];
//! let other = target::requested(["https://evil.example/"], &settings);
//! assert_eq!(other.map_err(|e| e.code), Err(ErrorCode::InvalidTarget));
//! // A token request may narrow what the grant was authorized for, never widen it.
//! let grant = Resources::from_stored("https://api.example/ https://billing.example/");
//! assert_eq!(target::narrow(&grant, &api)?.to_string(), "https://api.example/");
//! assert_eq!(target::narrow(&api, &grant).map_err(|e| e.code), Err(ErrorCode::InvalidTarget));
//! # Ok::<(), portcullis::oauth::OAuthError>(())
//! ```

use super::OAuthError;
use crate::config::OAuth2Settings;
use crate::proto::Resources;

/// A request's `resource` parameters, checked (RFC 8707 §2): each an absolute URI
/// without a fragment, and one of `[oauth2] allowed_resources` when that lists any.
/// None at all is an empty set: the request names no resource.
pub fn requested<'a>(
    raw: impl IntoIterator<Item = &'a str>,
    settings: &OAuth2Settings,
) -> Result<Resources, OAuthError> {
    let resources = Resources::parse(raw).map_err(|why| OAuthError::invalid_target(why.description()))?;
    // RFC 8707 §2: "the authorization server ... determines whether the resource is
    // valid for the client; if not, ... the invalid_target error".
    if resources.first_not_allowed(&settings.allowed_resources).is_some() {
        return Err(OAuthError::invalid_target("the requested resource is not one this server issues tokens for"));
    }
    Ok(resources)
}

/// What a token request asking for `requested` gets of a grant authorized for
/// `granted` ([`Resources::narrow`]); anything beyond the grant is `invalid_target`
/// (RFC 8707 §2.2: the token request's resources must be ones the grant covers).
pub fn narrow(granted: &Resources, requested: &Resources) -> Result<Resources, OAuthError> {
    granted
        .narrow(requested)
        .map_err(|_| OAuthError::invalid_target("the requested resource was not authorized for this grant"))
}
