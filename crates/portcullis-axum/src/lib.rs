//! The resource-server half of Portcullis: what an axum API needs to demand a valid
//! OAuth 2.0 bearer token (RFC 6750) with the right scopes, as django-oauth-toolkit's
//! `ProtectedResourceView` and `TokenHasScope` do for Django views.
//!
//! # Protecting an API in a dozen lines
//!
//! Say a photo API trusts a Portcullis at `https://auth.example` and has been registered
//! there as a confidential client (`portcullis app create --name Photos --client-type
//! confidential --grant-type client-credentials`):
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use portcullis_axum::{Authenticated, IntrospectionVerifier, ReadWrite, Scoped, TokenVerifier};
//!
//! async fn whoami(Authenticated(token): Authenticated) -> String {
//!     format!("hello, {}", token.username.unwrap_or_else(|| token.client_id.clone()))
//! }
//!
//! async fn photos(Scoped(token, ..): Scoped<ReadWrite>) -> String {
//!     format!("photos of user {}", token.user_id.unwrap_or_default())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let introspection = IntrospectionVerifier::new("https://auth.example/o/introspect/", "photos-id", "photos-secret");
//! let verifier = TokenVerifier::new(Arc::new(introspection), "photos");
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/photos", get(photos).post(photos))
//!     .with_state(verifier);
//! axum::serve(tokio::net::TcpListener::bind("0.0.0.0:9000").await?, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `GET /photos` now needs a token with scope `read`, `POST /photos` one with `write`
//! ([`ReadWrite`]); [`require_scopes!`] declares fixed scopes, and a hand-written
//! [`ScopePolicy`] gives alternatives per method. The answers follow RFC 6750 §3: no
//! token is `401` with `WWW-Authenticate: Bearer realm="photos"`; a bad one is `401`
//! with `error="invalid_token"`; a weak one is `403` with `error="insufficient_scope"`
//! and the scope needed; a token that cannot be checked because the provider is down is
//! `503`, never `401`.
//!
//! The extractors find the [`TokenVerifier`] in any state type that can give one up
//! through `FromRef`, so they fit an application's own state:
//!
//! ```
//! use axum::extract::FromRef;
//! use portcullis_axum::TokenVerifier;
//!
//! #[derive(Clone, FromRef)]
//! struct AppState {
//!     verifier: TokenVerifier,
//!     greeting: &'static str,
//! }
//! ```
//!
//! # Three ways to check a token
//!
//! The kit brings no database driver and no templates. It asks a [`Verifier`] whether a
//! token is valid:
//!
//! - against the provider's own store, in the same process: how the Portcullis server
//!   checks tokens for its own API and for a host application that embeds it; any
//!   program can implement [`Verifier`] its own way;
//! - by asking the provider, RFC 7662 introspection (`IntrospectionVerifier`, feature
//!   `introspection`): revocation is honoured at once (or within the cache's age), at
//!   the cost of a request to the provider per token;
//! - locally, for JWT access tokens (RFC 9068), with the provider's published keys
//!   (`JwtVerifier`, feature `jwt`): no request per token, and tokens keep verifying
//!   while the provider is down, but a revoked token is accepted until it expires.
//!
//! A smaller example, with a fixed policy per route:
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

#![deny(missing_docs)]

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
/// Wire types shared with the provider: RFC 7662 introspection answers, RFC 9068 JWT
/// access token claims.
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
