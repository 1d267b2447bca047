//! The resource-server half of Portcullis: what an axum API needs to demand a valid
//! OAuth 2.0 bearer token (RFC 6750) with the right scopes, as django-oauth-toolkit's
//! `ProtectedResourceView` and `TokenHasScope` do for Django views; and to be a protected
//! resource of today's specifications: one that says which authorization server
//! protects it (RFC 9728) and takes only the tokens bound to it (RFC 8707).
//!
//! # Protecting an API in a dozen lines
//!
//! Say a photo API at `https://photos.example/api` trusts a Portcullis at
//! `https://auth.example` and has been registered there as a confidential client
//! (`portcullis app create --name Photos --client-type confidential --grant-type
//! client-credentials`):
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use portcullis_axum::{Authenticated, IntrospectionVerifier, ProtectedResource, ReadWrite, Scoped, TokenVerifier};
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
//! let api = ProtectedResource::new("https://photos.example/api")?
//!     .authorization_server("https://auth.example/o")
//!     .scopes_supported(["read", "write"]);
//! let introspection = IntrospectionVerifier::new("https://auth.example/o/introspect/", "photos-id", "photos-secret");
//! let verifier = TokenVerifier::new(Arc::new(introspection), "photos").protecting(api.clone());
//! let app = Router::new()
//!     .route("/api/whoami", get(whoami))
//!     .route("/api/photos", get(photos).post(photos))
//!     .with_state(verifier)
//!     .merge(api.router()); // GET /.well-known/oauth-protected-resource/api
//! axum::serve(tokio::net::TcpListener::bind("0.0.0.0:9000").await?, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `GET /api/photos` now needs a token with scope `read`, `POST /api/photos` one with
//! `write` ([`ReadWrite`]); [`require_scopes!`] declares fixed scopes, and a
//! hand-written [`ScopePolicy`] gives alternatives per method. The answers follow RFC
//! 6750 §3, and RFC 9728 §5.1 names the API's metadata in each of them:
//!
//! - no token: `401` with `WWW-Authenticate: Bearer realm="photos", scope="read",
//!   resource_metadata="https://photos.example/.well-known/oauth-protected-resource/api"`,
//!   so that a client that knows only the API's URL finds the authorization server and
//!   what to ask it for (`Authenticated` routes name no scope: any will do);
//! - a bad token, or one bound to another resource (its audience, RFC 8707, does not
//!   name `https://photos.example/api`): `401` with `error="invalid_token"`;
//! - a weak one: `403` with `error="insufficient_scope"` and every scope the request
//!   needs, so a client can ask for them and step up;
//! - a token that cannot be checked because the provider is down: `503`, never `401`.
//!
//! The metadata document ([`ProtectedResource::router`], RFC 9728 §2) says
//! `{"resource": "https://photos.example/api", "authorization_servers":
//! ["https://auth.example/o"], "scopes_supported": ["read", "write"],
//! "bearer_methods_supported": ["header"]}`. Tokens bound to no resource at all are
//! still taken, unless [`ProtectedResource::strict_audience`] says otherwise. Without
//! `protecting`, a [`TokenVerifier`] checks no audience, and its challenges name only
//! the realm and RFC 6750's error.
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
//!   while the provider is down, but a revoked token is accepted until it expires. Give
//!   it the resource's URI as its audience: RFC 9068 makes `aud` required, so a JWT
//!   bound to no resource is refused here whatever `strict_audience` says.
//!
//! Whichever it is, the audience of a token (its `aud`, or what the store kept) ends up
//! in [`TokenInfo::audience`], and the [`TokenVerifier`] that guards a
//! [`ProtectedResource`] checks it in one place ([`resource::audience_admits`]).
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
/// A protected resource's identity and metadata (RFC 9728), and the audience rule
/// (RFC 8707).
pub mod resource;
/// Scope sets (RFC 6749 §3.3) and the policies that say which scopes a route needs.
pub mod scope;
/// The question "is this token valid?", behind a trait.
pub mod verify;
/// Wire types shared with the provider: RFC 7662 introspection answers, RFC 9068 JWT
/// access token claims.
pub mod wire;

pub use error::AuthError;
pub use extract::{Authenticated, Scoped};
pub use resource::ProtectedResource;
pub use scope::{ReadWrite, ScopePolicy, ScopeSet};
pub use verify::{TokenInfo, TokenVerifier, Verifier, VerifyError};

#[cfg(feature = "introspection")]
pub use introspection::IntrospectionVerifier;
#[cfg(feature = "jwt")]
pub use jwt::JwtVerifier;

#[doc(hidden)]
pub use http::Method as __Method;
