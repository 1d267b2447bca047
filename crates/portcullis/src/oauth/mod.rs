//! OAuth 2.0 on the wire: the token endpoint (RFC 6749), revocation (RFC 7009) and
//! introspection (RFC 7662). The rules live in plain async functions over a
//! [`Store`](crate::store::Store) and the time; `endpoints` only turns HTTP into calls.
//!
//! The endpoints are mounted by [`http::router`](crate::http::router); of the rules, only
//! the scope rules ([`scope`](crate::oauth::scope)) and the protocol errors are public.

pub(crate) mod authorize;
pub(crate) mod client_auth;
pub(crate) mod cors;
pub(crate) mod device;
pub(crate) mod endpoints;
mod error;
pub(crate) mod grant;
pub(crate) mod introspect;
mod params;
pub(crate) mod pkce;
pub(crate) mod redirect;
pub(crate) mod revoke;
pub mod scope;
pub mod target;

pub(crate) use error::EndpointError;
pub use error::{ErrorCode, OAuthError};
pub(crate) use params::{Params, MAX_BODY_BYTES};
