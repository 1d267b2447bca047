//! `[oauth2]`: tokens, scopes and the rules of the OAuth 2.0 endpoints.

use std::collections::BTreeMap;

use portcullis_axum::ScopeSet;
use serde::{Deserialize, Serialize};

/// `[oauth2]`: tokens, scopes and the rules of the OAuth 2.0 endpoints. Each key `k` is
/// also read from the variable `PORTCULLIS_K`.
///
/// ```
/// use portcullis::config::Config;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("portcullis.toml");
/// std::fs::write(&file, r#"
/// [oauth2]
/// scopes = { read = "Read your orders", write = "Place orders" }
/// access_token_expire_seconds = 600
/// rotate_refresh_token = false
/// "#)?;
/// // `PORTCULLIS_` + the key in upper case, for `[oauth2]` keys; lists as words.
/// let env = [("PORTCULLIS_DEFAULT_SCOPES".to_owned(), "read write".to_owned())];
/// let oauth2 = Config::load(Some(&file), env)?.oauth2;
/// assert_eq!(oauth2.access_token_expire_seconds, 600);
/// assert_eq!(oauth2.default_scopes, ["read", "write"]);
/// assert!(!oauth2.rotate_refresh_token && oauth2.pkce_required, "the rest keep their defaults");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Settings {
    /// Every scope the server knows, with the description the consent page shows.
    pub scopes: BTreeMap<String, String>,
    /// The scopes granted when a request names none (RFC 6749 §3.3).
    pub default_scopes: Vec<String>,
    /// How long access tokens live (RFC 6749 §5.1 `expires_in`); also ID tokens.
    pub access_token_expire_seconds: u32,
    /// 0: refresh tokens do not expire.
    pub refresh_token_expire_seconds: u32,
    /// How long an authorization code may wait to be exchanged (RFC 6749 §4.1.2: "A
    /// maximum authorization code lifetime of 10 minutes is RECOMMENDED").
    pub authorization_code_expire_seconds: u32,
    /// Whether each refresh issues a new refresh token and retires the old one (RFC 6749
    /// §6, OAuth 2.0 Security BCP refresh token rotation); reuse of a retired one then
    /// revokes its family.
    pub rotate_refresh_token: bool,
    /// How long a rotated-out refresh token may still be retried by a client that lost
    /// the answer, before its reuse counts as replay; 0: never.
    pub refresh_token_grace_period_seconds: u32,
    /// Whether code requests must carry a PKCE challenge (RFC 7636 §4.4.1), from every
    /// client.
    pub pkce_required: bool,
    /// The schemes redirection URIs (and post-logout ones) may use when registered.
    pub allowed_redirect_uri_schemes: Vec<String>,
    /// CORS origins allowed at the token, revocation and UserInfo endpoints for every
    /// client; each application's own `allowed_origins` add to them for that client.
    pub allowed_origins: Vec<String>,
    /// Seconds a device must wait between polls (RFC 8628 §3.5).
    pub device_flow_interval: u32,
    /// `aud` of JWT access tokens (RFC 9068 §3: with no resource indicator, "the
    /// authorization server MUST use a default resource indicator in the aud claim").
    /// Empty: the issuer.
    pub jwt_access_token_audience: String,
    /// The resources (RFC 8707 `resource`, absolute URIs compared exactly) clients may
    /// ask tokens for; empty: any.
    pub allowed_resources: Vec<String>,
}

impl Default for OAuth2Settings {
    fn default() -> Self {
        Self {
            scopes: BTreeMap::from([
                ("read".to_owned(), "Read scope".to_owned()),
                ("write".to_owned(), "Write scope".to_owned()),
                ("groups".to_owned(), "Access to your groups".to_owned()),
            ]),
            default_scopes: vec!["read".to_owned()],
            access_token_expire_seconds: 36000,
            refresh_token_expire_seconds: 0,
            authorization_code_expire_seconds: 60,
            rotate_refresh_token: true,
            refresh_token_grace_period_seconds: 0,
            pkce_required: true,
            allowed_redirect_uri_schemes: vec!["http".to_owned(), "https".to_owned()],
            allowed_origins: Vec::new(),
            device_flow_interval: 5,
            jwt_access_token_audience: String::new(),
            allowed_resources: Vec::new(),
        }
    }
}

impl OAuth2Settings {
    /// The audience of JWT access tokens issued by `issuer`.
    ///
    /// ```
    /// use portcullis::config::Config;
    ///
    /// let mut settings = Config::defaults().oauth2;
    /// assert_eq!(settings.jwt_audience("https://login.example/o"), "https://login.example/o");
    /// settings.jwt_access_token_audience = "https://api.example/".into();
    /// assert_eq!(settings.jwt_audience("https://login.example/o"), "https://api.example/");
    /// ```
    pub fn jwt_audience<'a>(&'a self, issuer: &'a str) -> &'a str {
        if self.jwt_access_token_audience.is_empty() {
            issuer
        } else {
            &self.jwt_access_token_audience
        }
    }

    /// Every configured scope, as a set.
    ///
    /// ```
    /// use portcullis::config::Config;
    ///
    /// // The contract's three, and OpenID Connect's while it is on.
    /// let scopes = Config::defaults().oauth2.all_scopes();
    /// assert_eq!(scopes.to_string(), "email groups openid profile read write");
    /// ```
    pub fn all_scopes(&self) -> ScopeSet {
        ScopeSet::from_tokens(self.scopes.keys().cloned())
    }
}
