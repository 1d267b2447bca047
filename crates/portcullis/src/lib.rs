//! Portcullis: an OAuth 2.0 and OpenID Connect authorization server. It runs on its own
//! (the `portcullis` command), or inside a host axum application, as
//! django-oauth-toolkit lives inside a Django project.
//!
//! # Embedding the provider in a dozen lines
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use portcullis::{config::Config, provider::Provider};
//! use portcullis_axum::{require_scopes, Scoped};
//!
//! require_scopes!(Read = ["read"]);
//!
//! async fn orders(Scoped(token, ..): Scoped<Read>) -> String {
//!     format!("orders of user {}", token.user_id.unwrap_or_default())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::defaults();
//! config.oidc.issuer = "https://shop.example/auth/o".into(); // {origin}{prefix}/o
//! let store = portcullis::store::connect("sqlite://shop-auth.db").await?;
//! let provider = Provider::builder(config, store).prefix("/auth").build().await?;
//! let app: Router = Router::new()
//!     .route("/orders", get(orders))
//!     .with_state(provider.verifier())
//!     .merge(provider.router());
//! axum::serve(tokio::net::TcpListener::bind("127.0.0.1:8080").await?, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The provider's endpoints and pages now answer under `/auth` (`/auth/o/token/`,
//! `/auth/accounts/login/`, discovery at `/auth/o/.well-known/openid-configuration`),
//! and `/orders` wants a bearer token with scope `read` that the provider issued.
//! From there:
//!
//! - [`provider::Provider`]'s builder also takes the host's users (an
//!   [`accounts::Accounts`]), so that people log in with the accounts they have and
//!   tokens name them by the host's ids, and the host's [`hooks::Hooks`]: extra claims,
//!   a scope policy per application, an event for each token issued.
//! - [`portcullis_axum`] protects routes: its extractors check tokens with
//!   [`Provider::verifier`](provider::Provider::verifier), from the host's own state
//!   type too, and an API in another process checks them by introspection or as JWTs.
//! - [`store::Store`] registers client applications, whose settings
//!   [`registration::validate`] checks as the command line and the pages do.
//!
//! `examples/embedded` in the repository is a whole shop built this way.
//!
//! The modules, from the edge inwards:

#![deny(missing_docs)]

/// Who may log in (Portcullis's own users, or a host application's), and the rules for
/// the accounts Portcullis keeps itself.
pub mod accounts;
/// The audit log of security events, in the database and the structured log.
pub mod audit;
/// The `portcullis` command line: serve, migrate, users, applications, token cleanup.
pub mod cli;
/// The time, as something tests can set.
pub mod clock;
/// Settings from `portcullis.toml` and `PORTCULLIS_*` environment variables.
pub mod config;
/// Random credentials, their hashes at rest, constant-time comparison.
pub mod crypto;
/// Thin wrappers over the crate's private parsers, for the fuzz targets under `fuzz/`
/// only (feature `fuzzing`, off by default).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
/// Where a host application changes what the provider decides: extra claims, a scope
/// policy, an event per token issued.
pub mod hooks;
/// The HTTP layer: shared state, the route table, who the client is and the security
/// headers, rate limits and load shedding, `/metrics`, and serving over HTTP or TLS
/// with a bounded drain at shutdown.
pub mod http;
/// The OAuth 2.0 endpoints (token, revocation, introspection) and the rules behind them.
pub mod oauth;
/// OpenID Connect: signing keys and the JWKS, discovery and RFC 8414 metadata, ID
/// tokens, UserInfo.
pub mod oidc;
/// Human-facing HTML: login, consent, application and token management, admin.
pub mod pages;
/// Human passwords, hashed with Argon2id.
pub mod password;
/// Every path the server answers, in one leaf module.
pub mod paths;
/// The protocol's vocabulary as types (grant types, client types, PKCE methods, JOSE
/// algorithms, device grant statuses): imports nothing from the rest of the crate.
pub mod proto;
/// The provider as a library: mount it in a host axum application, with the host's
/// users and hooks.
pub mod provider;
/// The rules an application's registration follows, shared by the command line and the
/// application pages.
pub mod registration;
/// The server's side of protected resources: the store-backed token verifier and the
/// example API of the contract (`/api/hello/`, `/api/me/`, `/api/groups/`).
pub mod resource;
/// Persistent storage: one trait, SQLite and PostgreSQL implementations.
pub mod store;
