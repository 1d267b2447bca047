//! OAuth 2.0 on the wire: the token endpoint (RFC 6749), revocation (RFC 7009) and
//! introspection (RFC 7662). The rules live in plain async functions over a
//! [`Store`](crate::store::Store) and the time; `endpoints` only turns HTTP into calls.

pub mod authorize;
pub mod client_auth;
pub mod device;
pub mod endpoints;
mod error;
pub mod grant;
pub mod introspect;
mod params;
pub mod pkce;
pub mod redirect;
pub mod revoke;
pub mod scope;

pub use error::{EndpointError, ErrorCode, OAuthError};
pub use params::{Params, MAX_BODY_BYTES};
