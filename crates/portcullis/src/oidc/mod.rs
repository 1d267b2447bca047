//! OpenID Connect on top of the OAuth endpoints: signing keys and the JWKS, discovery
//! metadata (with RFC 8414's for plain OAuth clients), ID tokens, and UserInfo.
//!
//! The endpoints are mounted by [`http::router`](crate::http::router); the signing keys
//! ([`keys`](crate::oidc::keys)) are public, for tools that list, rotate or sign with
//! them.

pub(crate) mod claims;
pub(crate) mod discovery;
mod endpoints;
pub mod keys;
pub(crate) mod logout;

pub(crate) use endpoints::router;
