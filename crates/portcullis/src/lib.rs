//! Portcullis: an OAuth 2.0 and OpenID Connect authorization server.
//!
//! The modules, from the edge inwards:

/// Who may log in (Portcullis's own users, or a host application's), and the rules for
/// the accounts Portcullis keeps itself.
pub mod accounts;
/// The axum application: shared state, the route table, serving with graceful shutdown.
pub mod app;
/// The `portcullis` command line: serve, migrate, users, applications, token cleanup.
pub mod cli;
/// The time, as something tests can set.
pub mod clock;
/// Settings from `portcullis.toml` and `PORTCULLIS_*` environment variables.
pub mod config;
/// Random credentials, their hashes at rest, constant-time comparison.
pub mod crypto;
/// Where a host application changes what the provider decides: extra claims, a scope
/// policy, an event per token issued.
pub mod hooks;
/// The OAuth 2.0 endpoints (token, revocation, introspection) and the rules behind them.
pub mod oauth;
/// OpenID Connect: signing keys and the JWKS, discovery and RFC 8414 metadata, ID
/// tokens, UserInfo.
pub mod oidc;
/// Human-facing HTML: login, consent, application and token management, admin.
pub mod pages;
/// Human passwords, hashed with Argon2id.
pub mod password;
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
