//! `[oidc]`: OpenID Connect, and the scopes it adds.

use serde::{Deserialize, Serialize};

use super::SecretSetting;

/// `[oidc]`: OpenID Connect. Each key `k` is also read from `PORTCULLIS_OIDC_K`.
///
/// ```
/// use portcullis::config::Config;
///
/// let env = [
///     ("PORTCULLIS_OIDC_ISSUER".to_owned(), "https://login.example/o".to_owned()),
///     // 32 bytes in base64, as `openssl rand -base64 32` prints them.
///     ("PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY".to_owned(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
/// ];
/// let config = Config::load(None, env)?;
/// assert_eq!(config.oidc.issuer, "https://login.example/o");
/// assert!(config.key_encryption_key().is_some());
/// // Turning OpenID Connect off takes its scopes away with it.
/// let off = Config::load(None, [("PORTCULLIS_OIDC_ENABLED".to_owned(), "false".to_owned())])?;
/// assert!(!off.oauth2.scopes.contains_key("openid"));
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// Whether OpenID Connect is on: ID tokens, UserInfo, discovery, the JWKS and
    /// logout.
    pub enabled: bool,
    /// The `iss` of everything signed, and where discovery says the endpoints are:
    /// `{origin}{prefix}/o` (OpenID Connect Discovery §4).
    pub issuer: String,
    /// 32 bytes in base64 that seal the private signing keys in the database
    /// (AES-256-GCM); empty: they are stored as they are.
    pub key_encryption_key: SecretSetting,
    /// Whether RP-initiated logout also revokes the user's tokens for the client that
    /// asked (django-oauth-toolkit's `OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS`).
    pub logout_revokes_tokens: bool,
    /// Seconds a rotated-in signing key is published before it signs (see
    /// [`crate::oidc::keys::PUBLISH_AHEAD`]); keep it above the refetch interval of the
    /// verifiers that cache the JWKS.
    pub key_publish_ahead_seconds: u32,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            issuer: "http://127.0.0.1:8000/o".to_owned(),
            key_encryption_key: SecretSetting::default(),
            logout_revokes_tokens: true,
            key_publish_ahead_seconds: crate::oidc::keys::PUBLISH_AHEAD as u32,
        }
    }
}

/// The scopes OpenID Connect Core §5.4 defines that Portcullis serves, with the consent
/// page's descriptions. They are added to `oauth2.scopes` while OpenID Connect is on, so
/// that turning it on is one setting, as in django-oauth-toolkit; a description the
/// settings give wins.
///
/// ```
/// use portcullis::config::{Config, OIDC_SCOPES};
///
/// let config = Config::defaults();
/// for (scope, description) in OIDC_SCOPES {
///     assert_eq!(config.oauth2.scopes.get(scope).map(String::as_str), Some(description));
/// }
/// ```
pub const OIDC_SCOPES: [(&str, &str); 3] = [
    ("openid", "Sign you in with your account"),
    ("profile", "Your name and username"),
    ("email", "Your email address"),
];
