//! OpenID Connect on top of the OAuth endpoints: signing keys and the JWKS, discovery
//! metadata (with RFC 8414's for plain OAuth clients), ID tokens, and UserInfo.

pub mod claims;
pub mod discovery;
mod endpoints;
pub mod keys;
pub mod logout;

pub use endpoints::router;
