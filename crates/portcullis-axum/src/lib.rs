//! The resource-server half of Portcullis: what an axum API needs to demand a valid
//! OAuth 2.0 bearer token (RFC 6750) with the right scopes.
//!
//! The kit brings no database driver and no templates. It asks a [`Verifier`] whether a
//! token is valid, and there are three ways to answer:
//!
//! - against the provider's own store, in the same process: that is how the Portcullis
//!   server checks tokens for its own API, and any program can implement [`Verifier`]
//!   its own way;
//! - by asking the provider, RFC 7662 introspection (`IntrospectionVerifier`, feature
//!   `introspection`): revocation is honoured at once, at the cost of a request to the
//!   provider per token (cached briefly);
//! - locally, for JWT access tokens (RFC 9068), with the provider's published keys
//!   (`JwtVerifier`, feature `jwt`): no request per token, and tokens keep verifying
//!   while the provider is down, but a revoked token is accepted until it expires.
//!
//! ```
//! use axum::{routing::get, Router};
//! use portcullis_axum::{require_scopes, Authenticated, Scoped, TokenVerifier};
//!
//! require_scopes!(pub Read = ["read"]);
//!
//! async fn hello(_token: Authenticated) -> &'static str {
//!     "Hello, there!!"
//! }
//!
//! async fn secret(Scoped(token, ..): Scoped<Read>) -> String {
//!     format!("client {}", token.client_id)
//! }
//!
//! fn api(verifier: TokenVerifier) -> Router {
//!     Router::new()
//!         .route("/hello", get(hello))
//!         .route("/secret", get(secret))
//!         .with_state(verifier)
//! }
//! ```

/// Reading the token from a request (RFC 6750 §2.1).
pub mod bearer;
/// The answers a protected resource gives when a token is missing, bad or too weak.
pub mod error;
/// Extractors that demand a token, and scopes per HTTP method.
pub mod extract;
/// Checking tokens remotely, by RFC 7662 introspection at the provider, with a cache.
#[cfg(feature = "introspection")]
pub mod introspection;
/// Checking JWT access tokens (RFC 9068) locally, with the provider's published keys.
#[cfg(feature = "jwt")]
pub mod jwt;
/// Scope sets (RFC 6749 §3.3) and the policies that say which scopes a route needs.
pub mod scope;
/// The question "is this token valid?", behind a trait.
pub mod verify;
/// Wire types shared with the provider (RFC 7662 introspection answers).
pub mod wire;

pub use error::AuthError;
pub use extract::{Authenticated, Scoped};
pub use scope::{ReadWrite, ScopePolicy, ScopeSet};
pub use verify::{TokenInfo, TokenVerifier, Verifier, VerifyError};

#[cfg(feature = "introspection")]
pub use introspection::IntrospectionVerifier;
#[cfg(feature = "jwt")]
pub use jwt::JwtVerifier;

#[doc(hidden)]
pub use http::Method as __Method;
