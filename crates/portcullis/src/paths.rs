//! Every path the server answers, for the router, the discovery metadata and the links
//! in pages. Each also answers without its trailing slash. A leaf: it imports nothing
//! from the crate, so any module may use it.
//!
//! A host that links to the provider builds its URLs from them:
//!
//! ```
//! use portcullis::paths;
//! use portcullis::config::Config;
//!
//! let mut config = Config::defaults();
//! config.oidc.issuer = "https://shop.example/auth/o".into();
//! assert_eq!(config.public_url(paths::AUTHORIZE), "https://shop.example/auth/o/authorize/");
//! assert_eq!(config.public_url(paths::LOGIN), "https://shop.example/auth/accounts/login/");
//! // Discovery sits below the issuer (OpenID Connect Discovery §4).
//! let discovery = config.public_url(paths::OPENID_CONFIGURATION);
//! assert_eq!(discovery, format!("{}/.well-known/openid-configuration", config.oidc.issuer));
//! ```

/// RFC 6749 §3.1: the authorization endpoint, where the browser asks for a code or
/// token.
pub const AUTHORIZE: &str = "/o/authorize/";
/// RFC 6749 §3.2: the token endpoint, where clients exchange grants for tokens.
pub const TOKEN: &str = "/o/token/";
/// RFC 7009 §2: the revocation endpoint.
pub const REVOKE: &str = "/o/revoke_token/";
/// RFC 7662 §2: the introspection endpoint.
pub const INTROSPECT: &str = "/o/introspect/";
/// RFC 8628 §3.1: where devices ask for a device code.
pub const DEVICE_AUTHORIZATION: &str = "/o/device-authorization/";
/// RFC 8628 §3.3: where the user types the user code (`verification_uri`).
pub const DEVICE: &str = "/o/device/";
// --- OpenID Connect and RFC 8414 metadata ---
/// OpenID Connect Core §5.3: the UserInfo endpoint.
pub const USERINFO: &str = "/o/userinfo/";
/// OpenID Connect RP-Initiated Logout 1.0's end-session endpoint.
pub const END_SESSION: &str = "/o/logout/";
/// The JWK Set (RFC 7517 §5) of the public signing keys: discovery's `jwks_uri`.
pub const JWKS: &str = "/o/.well-known/jwks.json";
/// OpenID Connect Discovery §4: the issuer (`…/o`) followed by this suffix.
pub const OPENID_CONFIGURATION: &str = "/o/.well-known/openid-configuration";
/// The same document at the root, where some clients look for it.
pub const OPENID_CONFIGURATION_ROOT: &str = "/.well-known/openid-configuration";
/// RFC 8414 §3: the well-known suffix goes between the host and the issuer's path,
/// so the issuer `…/o` is described at `/.well-known/oauth-authorization-server/o`.
pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server/o";
/// The same metadata at the root, for clients that do not insert the issuer's path.
pub const OAUTH_METADATA_ROOT: &str = "/.well-known/oauth-authorization-server";
/// The example API, as a protected resource (RFC 9728): its resource URI is this path
/// on the server's public base, `{base}/api`.
pub const API: &str = "/api";
/// RFC 9728 §3: the example API's metadata, the well-known string inserted between the
/// host and the API's path.
pub const API_RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource/api";
/// The example API: any valid token.
pub const API_HELLO: &str = "/api/hello/";
/// The example API: the token's user, who may change their name and email.
pub const API_ME: &str = "/api/me/";
/// The example API: the token's user's groups, with the `groups` scope.
pub const API_GROUPS: &str = "/api/groups/";
// --- Application management and authorized-token pages ---
/// The logged-in user's own applications.
pub const APPLICATIONS: &str = "/o/applications/";
/// Registering a new application.
pub const APPLICATION_REGISTER: &str = "/o/applications/register/";
/// One of the user's applications.
pub const APPLICATION_DETAIL: &str = "/o/applications/{id}/";
/// Changing an application's settings.
pub const APPLICATION_UPDATE: &str = "/o/applications/{id}/update/";
/// Deleting an application, with its tokens.
pub const APPLICATION_DELETE: &str = "/o/applications/{id}/delete/";
/// Replacing a confidential application's secret.
pub const APPLICATION_SECRET: &str = "/o/applications/{id}/secret/";
/// The applications the user has given access, with a button to take it back.
pub const AUTHORIZED_TOKENS: &str = "/o/authorized_tokens/";
/// Taking back an application's access.
pub const AUTHORIZED_TOKEN_DELETE: &str = "/o/authorized_tokens/{id}/delete/";
// --- Admin pages ---
/// The staff pages' overview.
pub const ADMIN: &str = "/admin/";
/// Staff: the users, searchable.
pub const ADMIN_USERS: &str = "/admin/users/";
/// Staff: creating a user.
pub const ADMIN_USER_NEW: &str = "/admin/users/new/";
/// Staff: one user.
pub const ADMIN_USER: &str = "/admin/users/{id}/";
/// Staff: activating or deactivating a user.
pub const ADMIN_USER_ACTIVE: &str = "/admin/users/{id}/active/";
/// Staff: setting a user's password.
pub const ADMIN_USER_PASSWORD: &str = "/admin/users/{id}/password/";
/// Staff: setting a user's groups.
pub const ADMIN_USER_GROUPS: &str = "/admin/users/{id}/groups/";
/// Staff: every user's applications.
pub const ADMIN_APPLICATIONS: &str = "/admin/applications/";
/// Staff: one application.
pub const ADMIN_APPLICATION: &str = "/admin/applications/{id}/";
/// Staff: changing any application's settings (skip authorization, grant types,
/// allowed scopes, redirect URIs, …).
pub const ADMIN_APPLICATION_UPDATE: &str = "/admin/applications/{id}/update/";
/// Staff: deleting an application.
pub const ADMIN_APPLICATION_DELETE: &str = "/admin/applications/{id}/delete/";
/// Staff: the access tokens, filtered by user or client.
pub const ADMIN_TOKENS: &str = "/admin/tokens/";
/// Staff: revoking an access token.
pub const ADMIN_TOKEN_REVOKE: &str = "/admin/tokens/{id}/revoke/";
/// Staff: the audit log, filtered by kind, user or client.
pub const ADMIN_AUDIT: &str = "/admin/audit/";
// --- Playground ---
/// A page where a logged-in user runs the authorization code flow with PKCE against
/// this server with one of their applications, every request and answer shown.
pub const PLAYGROUND: &str = "/o/playground/";
/// The playground's redirection URI.
pub const PLAYGROUND_CALLBACK: &str = "/o/playground/callback/";
/// The login page.
pub const LOGIN: &str = "/accounts/login/";
/// Logging out of the browser session.
pub const LOGOUT: &str = "/accounts/logout/";
/// Liveness: answers `ok` while the process serves.
pub const HEALTHZ: &str = "/healthz";
/// What the server is, for a person opening its address (standalone server only).
pub const HOME: &str = "/";
/// Readiness: `ready` when the database answers, `503` otherwise.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics, in the OpenMetrics text format (see [`crate::http::metrics`]).
pub const METRICS: &str = "/metrics";
