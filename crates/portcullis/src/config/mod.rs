//! Settings: built-in defaults, then `portcullis.toml`, then `PORTCULLIS_*` environment
//! variables (the environment wins). Key names follow django-oauth-toolkit's
//! `OAUTH2_PROVIDER` keys in snake case. Unknown keys and values of the wrong type are
//! errors that name the key, never silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_axum::ScopeSet;
use serde::{Deserialize, Serialize};

use crate::http::edge::TrustedProxies;
use crate::proto::GrantType;

/// Every setting. [`Config::defaults`] gives the built-in ones; [`Config::load`] reads
/// `portcullis.toml` and the environment over them, as the `portcullis` command does.
/// A host that embeds the provider may build one in code instead, starting from the
/// defaults.
///
/// ```
/// use portcullis::config::Config;
///
/// let mut config = Config::defaults();
/// assert_eq!(config.oauth2.access_token_expire_seconds, 36000);
/// assert!(config.oidc.enabled && config.oauth2.scopes.contains_key("openid"));
/// config.oidc.issuer = "https://login.example/o".into();
/// assert_eq!(config.public_url("/o/token/"), "https://login.example/o/token/");
///
/// // A settings file (here none), then the environment, which wins.
/// let env = [("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS".to_owned(), "600".to_owned())];
/// let loaded = Config::load(None, env)?;
/// assert_eq!(loaded.oauth2.access_token_expire_seconds, 600);
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[oauth2]`: the OAuth 2.0 rules (and the keys of `PORTCULLIS_*` variables without
    /// a section).
    pub oauth2: OAuth2Settings,
    /// `[pages]`: the HTML pages.
    pub pages: PagesSettings,
    /// `[oidc]`: OpenID Connect.
    pub oidc: OidcSettings,
    /// `[storage]`: the database.
    pub storage: StorageSettings,
    /// `[limits]`: rate limits and how much the server takes on at once.
    pub limits: LimitSettings,
    /// `[server]`: how the server meets the network: TLS, limits on requests, proxies.
    pub server: ServerSettings,
}

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

/// `[pages]`: the HTML pages. Each key `k` is also read from `PORTCULLIS_PAGES_K`.
///
/// ```
/// use portcullis::config::Config;
///
/// let env = [("PORTCULLIS_PAGES_TEMPLATES_DIR".to_owned(), "/srv/shop/auth-templates".to_owned())];
/// assert_eq!(Config::load(None, env)?.pages.templates_dir, "/srv/shop/auth-templates");
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesSettings {
    /// A folder whose templates replace the built-in ones; empty for none.
    pub templates_dir: String,
    /// The grants a user who is not staff may give the applications they register at
    /// `/o/applications/` (`authorization-code`, `device-code`, `implicit`,
    /// `openid-hybrid`, `password`, `client-credentials`). By default every grant in
    /// which a person consents to the application: not `password` (an application that
    /// collects people's passwords) nor `client-credentials` (tokens no person
    /// approved), which staff give on the admin pages or `portcullis app create`. Empty:
    /// only staff register applications. Checked at load: each must be a known grant.
    pub self_service_grant_types: Vec<String>,
}

impl Default for PagesSettings {
    fn default() -> Self {
        let self_service =
            [GrantType::AuthorizationCode, GrantType::DeviceCode, GrantType::Implicit, GrantType::OpenidHybrid];
        Self {
            templates_dir: String::new(),
            self_service_grant_types: self_service.iter().map(|g| g.as_str().to_owned()).collect(),
        }
    }
}

impl PagesSettings {
    /// [`PagesSettings::self_service_grant_types`] as grants. A name that is no grant
    /// (possible only in settings built in code, since [`Config::load`] refuses one)
    /// offers nothing.
    ///
    /// ```
    /// use portcullis::config::Config;
    /// use portcullis::proto::GrantType;
    ///
    /// let defaults = Config::defaults().pages.self_service_grants();
    /// assert!(defaults.contains(&GrantType::AuthorizationCode) && defaults.contains(&GrantType::DeviceCode));
    /// assert!(!defaults.contains(&GrantType::Password) && !defaults.contains(&GrantType::ClientCredentials));
    ///
    /// let env = [("PORTCULLIS_PAGES_SELF_SERVICE_GRANT_TYPES".to_owned(), "authorization-code password".to_owned())];
    /// let config = Config::load(None, env)?;
    /// assert_eq!(config.pages.self_service_grants(), [GrantType::AuthorizationCode, GrantType::Password]);
    ///
    /// let typo = [("PORTCULLIS_PAGES_SELF_SERVICE_GRANT_TYPES".to_owned(), "authorisation-code".to_owned())];
    /// let error = Config::load(None, typo).err().map(|e| e.to_string()).unwrap_or_default();
    /// assert!(error.contains("pages.self_service_grant_types") && error.contains("authorisation-code"), "{error}");
    /// # Ok::<(), portcullis::config::ConfigError>(())
    /// ```
    pub fn self_service_grants(&self) -> Vec<GrantType> {
        self.self_service_grant_types.iter().filter_map(|name| name.parse().ok()).collect()
    }
}

/// `[storage]`: the database (its URL is `--database-url`, not a setting). Each key `k`
/// is also read from `PORTCULLIS_STORAGE_K`.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::store::SqliteDurability;
///
/// assert_eq!(Config::defaults().storage.sqlite_durability, SqliteDurability::Process);
/// let env = [("PORTCULLIS_STORAGE_SQLITE_DURABILITY".to_owned(), "full".to_owned())];
/// assert_eq!(Config::load(None, env)?.storage.sqlite_durability, SqliteDurability::Full);
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// What a SQLite commit survives: `process` (the process being killed; the
    /// default) or `full` (a power loss too, at a disk flush per commit). PostgreSQL
    /// keeps its own settings.
    pub sqlite_durability: crate::store::SqliteDurability,
    /// At most this many connections to a PostgreSQL server, per instance (SQLite uses
    /// one writer and four readers whatever this says).
    pub pool_size: u32,
    /// Seconds a request waits for a database connection before it is answered `503`
    /// with `Retry-After`: under more load than the database can take, requests are
    /// shed rather than queued without end.
    pub pool_timeout_seconds: u32,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            sqlite_durability: crate::store::SqliteDurability::default(),
            pool_size: crate::store::PostgresStore::DEFAULT_POOL_SIZE,
            pool_timeout_seconds: 5,
        }
    }
}

impl StorageSettings {
    /// How [`crate::store::connect_with_options`] opens the database with these settings.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use portcullis::config::Config;
    /// use portcullis::store;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    /// let env = [
    ///     ("PORTCULLIS_STORAGE_POOL_SIZE".to_owned(), "8".to_owned()),
    ///     ("PORTCULLIS_STORAGE_POOL_TIMEOUT_SECONDS".to_owned(), "2".to_owned()),
    /// ];
    /// let options = Config::load(None, env)?.storage.connect_options();
    /// assert_eq!(options.pool_size, 8);
    /// // A query waits at most this long for a connection, then fails as unavailable.
    /// assert_eq!(options.acquire_timeout, Duration::from_secs(2));
    ///
    /// // What `portcullis serve` does with `--database-url` and `[storage]`.
    /// let store = store::connect_with_options(&url, &options).await?;
    /// store.migrate().await?;
    /// store.ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_options(&self) -> crate::store::ConnectOptions {
        crate::store::ConnectOptions {
            pool_size: self.pool_size,
            sqlite_durability: self.sqlite_durability,
            acquire_timeout: std::time::Duration::from_secs(u64::from(self.pool_timeout_seconds)),
        }
    }
}

/// `[limits]`: how much one client, account or address may ask for, and how much the
/// server takes on at once. Each key `k` is also read from `PORTCULLIS_LIMITS_K`. The
/// rate limits are kept in each instance's memory (several instances each allow the
/// rate); the login limits are kept in the database, so they hold across instances.
///
/// ```
/// use portcullis::config::{Config, LimitSettings};
///
/// let defaults = LimitSettings::default();
/// assert_eq!((defaults.token_requests_per_second, defaults.token_request_burst), (100, 200));
/// assert_eq!((defaults.login_failures_per_account, defaults.login_failure_window_seconds), (5, 900));
///
/// let env = [
///     ("PORTCULLIS_LIMITS_LOGIN_FAILURES_PER_ACCOUNT".to_owned(), "3".to_owned()),
///     // 0: no limit on requests in flight.
///     ("PORTCULLIS_LIMITS_MAX_CONCURRENT_REQUESTS".to_owned(), "0".to_owned()),
/// ];
/// let limits = Config::load(None, env)?.limits;
/// assert_eq!((limits.login_failures_per_account, limits.max_concurrent_requests), (3, 0));
///
/// // A rate with no burst would refuse every request: the settings are refused instead.
/// let env = [("PORTCULLIS_LIMITS_TOKEN_REQUEST_BURST".to_owned(), "0".to_owned())];
/// let error = Config::load(None, env).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.starts_with("setting `limits.token_request_burst`"), "{error}");
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Token requests per second, on average, of one authenticated confidential client;
    /// of one public client from one address; and of failed client authentications for
    /// one `client_id` from one address. More are answered `429` with `Retry-After`
    /// (see [`RateLimits`](crate::http::limits::RateLimits)). 0: no limit.
    pub token_requests_per_second: u32,
    /// How many token requests one of those may make at once above that rate.
    pub token_request_burst: u32,
    /// Failed logins (the login page and the password grant) one username may have in
    /// `login_failure_window_seconds` before logging in as it is refused with `429`.
    /// 0: no limit.
    pub login_failures_per_account: u32,
    /// Failed logins one client address may have in the window before its logins are
    /// refused with `429`. 0: no limit.
    pub login_failures_per_address: u32,
    /// The window the login limits count failures in, in seconds.
    pub login_failure_window_seconds: u32,
    /// Requests served at once; more are answered `503` with `Retry-After` at once
    /// rather than queued. 0: no limit.
    pub max_concurrent_requests: u32,
    /// Seconds a request may take before it is abandoned (changing nothing) and
    /// answered `503`. 0: no limit.
    pub request_timeout_seconds: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            token_requests_per_second: 100,
            token_request_burst: 200,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            login_failure_window_seconds: 15 * 60,
            max_concurrent_requests: 1024,
            request_timeout_seconds: 30,
        }
    }
}

/// `[server]`: how the server meets the network. Each key `k` is also read from
/// `PORTCULLIS_SERVER_K`. `trusted_proxies` counts for a provider mounted in a host
/// application too; the other keys are `portcullis serve`'s (and
/// [`crate::http::server::ServeOptions::from_settings`]'s).
///
/// ```
/// use portcullis::config::Config;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("portcullis.toml");
/// std::fs::write(&file, r#"
/// [server]
/// trusted_proxies = ["10.0.0.0/8", "::1"]
/// max_header_bytes = 8192
/// "#)?;
/// let server = Config::load(Some(&file), std::iter::empty())?.server;
/// assert!(server.trusted_proxies.contains("10.20.30.40".parse()?));
/// assert_eq!(server.max_header_bytes, 8192);
/// assert_eq!(server.header_read_timeout_seconds, 20, "the rest keep their defaults");
///
/// // From the environment: a list as words; an entry that is no address is an error.
/// let env = [("PORTCULLIS_SERVER_TRUSTED_PROXIES".to_owned(), "192.0.2.10 proxy.internal".to_owned())];
/// let error = Config::load(None, env).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.contains(r#""proxy.internal" is neither an IP address nor a network"#), "{error}");
///
/// // TLS takes a certificate and its key, never one alone.
/// let env = [("PORTCULLIS_SERVER_TLS_CERTIFICATE".to_owned(), "/etc/portcullis/cert.pem".to_owned())];
/// let error = Config::load(None, env).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.starts_with("setting `server.tls_private_key`"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// A PEM file with the certificate chain to serve https with, the server's own
    /// certificate first; empty: plain http. Needs `tls_private_key` too. Read at
    /// start: restart the server to take up a renewed certificate.
    pub tls_certificate: String,
    /// A PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1); empty:
    /// plain http. Needs `tls_certificate` too.
    pub tls_private_key: String,
    /// The reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed,
    /// as addresses (`"10.0.0.7"`) or networks (`"10.0.0.0/8"`); empty: none, and the
    /// connection's peer is the client (see [`crate::http::edge::ClientAddr`]).
    pub trusted_proxies: TrustedProxies,
    /// The most bytes a request's line and headers may take; beyond it the answer is
    /// `431 Request Header Fields Too Large` and the connection is closed.
    pub max_header_bytes: u32,
    /// Seconds a connection may take to send a request's headers (and to finish the TLS
    /// handshake) before it is closed, so that clients trickling bytes (slowloris)
    /// cannot hold connections open. A kept-alive connection waiting for its next
    /// request is closed after this long too.
    pub header_read_timeout_seconds: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            tls_certificate: String::new(),
            tls_private_key: String::new(),
            trusted_proxies: TrustedProxies::default(),
            max_header_bytes: 16 * 1024,
            header_read_timeout_seconds: 20,
        }
    }
}

impl ServerSettings {
    /// The certificate and key files when TLS is on; an error when only one is given.
    pub(crate) fn tls_files(&self) -> Result<Option<(&Path, &Path)>, ConfigError> {
        match (self.tls_certificate.is_empty(), self.tls_private_key.is_empty()) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some((Path::new(&self.tls_certificate), Path::new(&self.tls_private_key)))),
            (missing_certificate, _) => Err(ConfigError::Invalid {
                key: if missing_certificate { "server.tls_certificate" } else { "server.tls_private_key" }.to_owned(),
                message: "TLS needs both a certificate and a private key (server.tls_certificate and \
                          server.tls_private_key)"
                    .to_owned(),
            }),
        }
    }
}

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

/// A setting that must not be printed: its `Debug` hides the value.
///
/// ```
/// use portcullis::config::SecretSetting;
///
/// let key = SecretSetting::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// assert_eq!(format!("{key:?}"), "SecretSetting([redacted])");
/// assert_eq!(key.expose(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// assert!(!key.is_empty() && SecretSetting::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretSetting(String);

impl SecretSetting {
    /// A setting holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the setting is unset (empty).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "SecretSetting(\"\")" } else { "SecretSetting([redacted])" })
    }
}

/// Why the settings could not be loaded. The message names the file, key or variable,
/// never a secret value.
///
/// ```
/// use portcullis::config::{Config, ConfigError};
///
/// let env = [("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS".to_owned(), "soon".to_owned())];
/// let error = Config::load(None, env).err();
/// assert!(matches!(&error, Some(ConfigError::Env { var, .. }) if var == "PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS"));
/// // What the command line prints after `error: `: the variable and what is wrong.
/// let text = error.map(|e| e.to_string()).unwrap_or_default();
/// assert_eq!(text, r#"environment variable PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS: "soon" is not a whole number"#);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The settings file is not TOML.
    #[error("settings file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A setting has a value of the wrong type or that breaks a rule; `key` is its
    /// dotted name.
    #[error("setting `{key}`: {message}")]
    Invalid {
        /// The setting, as `section.key`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `PORTCULLIS_*` variable's value cannot be read as the setting's type.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with its value.
        message: String,
    },
}

/// Where the settings file is: `explicit` (from `--config` or `PORTCULLIS_CONFIG`) must
/// exist; otherwise `portcullis.toml` in the working directory is read when present.
///
/// ```
/// use std::path::{Path, PathBuf};
///
/// use portcullis::config::{resolve_path, Config};
///
/// // Named explicitly: taken as it is, so a missing file is an error when loaded.
/// let named = resolve_path(Some(Path::new("/etc/portcullis/prod.toml")));
/// assert_eq!(named, Some(PathBuf::from("/etc/portcullis/prod.toml")));
/// assert!(Config::load(named.as_deref(), std::iter::empty()).is_err());
/// // Not named: `portcullis.toml` in the working directory, if there is one.
/// let default = resolve_path(None);
/// assert_eq!(default.is_some(), Path::new("portcullis.toml").exists());
/// ```
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_owned()),
        None => {
            let default = PathBuf::from("portcullis.toml");
            default.exists().then_some(default)
        }
    }
}

impl Config {
    /// Loads the settings from an optional file and the given environment (pass
    /// `std::env::vars()` for the process's own), over the defaults, and checks them.
    ///
    /// ```
    /// use portcullis::config::{resolve_path, Config};
    ///
    /// // What the `portcullis` command does, with `--config` not given.
    /// let config = Config::load(resolve_path(None).as_deref(), std::env::vars())?;
    /// assert!(config.oauth2.access_token_expire_seconds > 0);
    ///
    /// // A misspelt key is an error that names it, never silently ignored.
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("portcullis.toml");
    /// std::fs::write(&file, "[oauth2]\nacess_token_expire_seconds = 60\n")?;
    /// let error = Config::load(Some(&file), std::iter::empty()).err().map(|e| e.to_string());
    /// assert!(error.is_some_and(|e| e.contains("acess_token_expire_seconds")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load<I>(file: Option<&Path>, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.message().to_owned() })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid { key: e.path().to_string(), message: e.inner().message().to_owned() })?;
        let config = config.with_oidc_scopes();
        config.validate()?;
        Ok(config)
    }

    /// Built-in defaults only.
    pub fn defaults() -> Self {
        Self::default().with_oidc_scopes()
    }

    fn with_oidc_scopes(mut self) -> Self {
        if self.oidc.enabled {
            for (name, description) in OIDC_SCOPES {
                self.oauth2.scopes.entry(name.to_owned()).or_insert_with(|| description.to_owned());
            }
        }
        self
    }

    /// `path` on this server as the outside world reaches it: the issuer's origin
    /// (`oidc.issuer` without its path) followed by `path`.
    ///
    /// ```
    /// use portcullis::paths;
    /// use portcullis::config::Config;
    ///
    /// let mut config = Config::defaults();
    /// config.oidc.issuer = "https://shop.example/auth/o".into();
    /// assert_eq!(config.public_url(paths::TOKEN), "https://shop.example/auth/o/token/");
    /// ```
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_base())
    }

    /// Where this server's paths start: the issuer without its final `/o` (so an issuer
    /// `https://shop.example/auth/o` puts the token endpoint at
    /// `https://shop.example/auth/o/token/`), or the issuer's origin for an issuer of
    /// another shape.
    ///
    /// ```
    /// use portcullis::config::Config;
    ///
    /// let mut config = Config::defaults();
    /// config.oidc.issuer = "https://shop.example/auth/o".into();
    /// assert_eq!(config.public_base(), "https://shop.example/auth");
    /// config.oidc.issuer = "https://login.example/tenant-7".into();
    /// assert_eq!(config.public_base(), "https://login.example", "another shape: the origin");
    /// ```
    pub fn public_base(&self) -> String {
        let issuer = self.oidc.issuer.trim_end_matches('/');
        match issuer.strip_suffix("/o") {
            Some(base) if url::Url::parse(issuer).is_ok() => base.to_owned(),
            _ => url::Url::parse(issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default(),
        }
    }

    /// The key that seals private signing keys, if the settings give one.
    ///
    /// ```
    /// use portcullis::config::{Config, SecretSetting};
    ///
    /// let mut config = Config::defaults();
    /// assert!(config.key_encryption_key().is_none(), "none by default: keys stored as they are");
    /// config.oidc.key_encryption_key = SecretSetting::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    /// let kek = config.key_encryption_key();
    /// assert_eq!(kek.map(|k| format!("{k:?}")).as_deref(), Some("KeyEncryptionKey([redacted])"));
    /// ```
    pub fn key_encryption_key(&self) -> Option<crate::oidc::keys::KeyEncryptionKey> {
        let text = self.oidc.key_encryption_key.expose();
        // Checked by `validate`, so a bad value never gets this far.
        (!text.is_empty()).then(|| crate::oidc::keys::KeyEncryptionKey::parse(text).ok()).flatten()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| Err(ConfigError::Invalid { key: key.to_owned(), message });
        let o = &self.oauth2;
        for name in o.scopes.keys() {
            if ScopeSet::parse(name).map(|s| s.iter().count() != 1).unwrap_or(true) {
                return invalid("oauth2.scopes", format!("{name:?} is not a valid scope name (RFC 6749 §3.3)"));
            }
        }
        if let Some(unknown) = o.default_scopes.iter().find(|s| !o.scopes.contains_key(*s)) {
            return invalid("oauth2.default_scopes", format!("{unknown:?} is not one of the configured scopes"));
        }
        if o.access_token_expire_seconds == 0 {
            return invalid("oauth2.access_token_expire_seconds", "must be at least 1".into());
        }
        if o.authorization_code_expire_seconds == 0 {
            return invalid("oauth2.authorization_code_expire_seconds", "must be at least 1".into());
        }
        if o.device_flow_interval == 0 {
            return invalid("oauth2.device_flow_interval", "must be at least 1".into());
        }
        if o.allowed_redirect_uri_schemes.is_empty() {
            return invalid("oauth2.allowed_redirect_uri_schemes", "must name at least one scheme".into());
        }
        for origin in &o.allowed_origins {
            // An origin is scheme, host and port: exactly what a browser sends.
            let parsed = url::Url::parse(origin).ok();
            let canonical = parsed.as_ref().map(|u| u.origin().ascii_serialization());
            if canonical.as_deref() != Some(origin.as_str()) {
                return invalid(
                    "oauth2.allowed_origins",
                    format!("{origin:?} is not an origin such as https://app.example"),
                );
            }
        }
        for name in &self.pages.self_service_grant_types {
            if let Err(message) = name.parse::<GrantType>() {
                return invalid("pages.self_service_grant_types", message);
            }
        }
        if self.oidc.enabled && url::Url::parse(&self.oidc.issuer).is_err() {
            return invalid("oidc.issuer", format!("{:?} is not an absolute URL", self.oidc.issuer));
        }
        // Every signed token's `iss` is this string, compared exactly (OpenID Connect
        // Discovery §4.3, RFC 9068 §4), and the endpoints are built from it: one form
        // only.
        if self.oidc.issuer.ends_with('/') {
            return invalid("oidc.issuer", format!("{:?} must not end with a slash", self.oidc.issuer));
        }
        if self.limits.token_requests_per_second > 0 && self.limits.token_request_burst == 0 {
            return invalid(
                "limits.token_request_burst",
                "must be at least 1 while there is a token rate limit".into(),
            );
        }
        if self.limits.login_failure_window_seconds == 0 {
            return invalid("limits.login_failure_window_seconds", "must be at least 1".into());
        }
        if self.storage.pool_size == 0 {
            return invalid("storage.pool_size", "must be at least 1".into());
        }
        if self.storage.pool_timeout_seconds == 0 {
            return invalid("storage.pool_timeout_seconds", "must be at least 1".into());
        }
        self.server.tls_files()?;
        if self.server.max_header_bytes < 1024 {
            return invalid("server.max_header_bytes", "must be at least 1024".into());
        }
        if self.server.header_read_timeout_seconds == 0 {
            return invalid("server.header_read_timeout_seconds", "must be at least 1".into());
        }
        let kek = self.oidc.key_encryption_key.expose();
        if !kek.is_empty() {
            // The message says what is wrong with the value, never the value.
            if let Err(why) = crate::oidc::keys::KeyEncryptionKey::parse(kek) {
                return invalid("oidc.key_encryption_key", format!("{why} (expected 32 bytes in base64)"));
            }
        }
        Ok(())
    }
}

/// Overlays `PORTCULLIS_*` variables on the file's table. The variable for `[oauth2]`
/// key `k` is `PORTCULLIS_K`; for key `k` of another section `s`, `PORTCULLIS_S_K`. The
/// value's type is the default's: strings are taken as they are, numbers and booleans
/// parsed, lists given as TOML arrays or as comma- or space-separated words, tables as
/// TOML inline tables.
fn apply_env<I>(table: &mut toml::Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let known = env_settings();
    for (var, raw) in env {
        let Some((section, key, default)) = known.get(&var) else {
            continue;
        };
        let value = env_value(default, &raw).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
        let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry.as_table_mut() {
            Some(section_table) => {
                section_table.insert(key.clone(), value);
            }
            None => {
                return Err(ConfigError::Invalid { key: section.clone(), message: "must be a table".into() });
            }
        }
    }
    Ok(())
}

/// Every setting's variable, with its section, key and default: made from the
/// settings themselves, so a new setting has its variable at once.
fn env_settings() -> BTreeMap<String, (String, String, toml::Value)> {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut known = BTreeMap::new();
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, default) in keys {
            let var = if section == "oauth2" {
                format!("{ENV_PREFIX}{}", key.to_uppercase())
            } else {
                format!("{ENV_PREFIX}{}_{}", section.to_uppercase(), key.to_uppercase())
            };
            known.insert(var, (section.clone(), key.clone(), default.clone()));
        }
    }
    known
}

/// What every variable the settings read starts with.
const ENV_PREFIX: &str = "PORTCULLIS_";

/// A `PORTCULLIS_*` variable that nothing reads, and the known one it is closest to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownVar {
    /// The variable's name.
    pub name: String,
    /// A known variable a typo or two away, if there is one.
    pub suggestion: Option<String>,
}

/// The `PORTCULLIS_*` variables among `names` that are neither a setting nor one of
/// `also_known` (the command line's own, such as `PORTCULLIS_CONFIG`), sorted: a
/// misspelt variable would otherwise be ignored without a word, where the same typo in
/// `portcullis.toml` is an error.
pub(crate) fn unknown_env_vars<'a>(names: impl IntoIterator<Item = &'a str>, also_known: &[&str]) -> Vec<UnknownVar> {
    let settings = env_settings();
    let known: Vec<&str> = settings.keys().map(String::as_str).chain(also_known.iter().copied()).collect();
    let mut unknown: Vec<UnknownVar> = names
        .into_iter()
        .filter(|name| name.starts_with(ENV_PREFIX) && !known.contains(name))
        .map(|name| UnknownVar { name: name.to_owned(), suggestion: closest(name, &known).map(str::to_owned) })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown.dedup();
    unknown
}

/// The known name `name` most likely meant: one a few edits away (a letter dropped,
/// doubled or swapped), or the `[oauth2]` variable when `name` spells out the section
/// that those variables leave out (`PORTCULLIS_OAUTH2_PKCE_REQUIRED`).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    if let Some(key) = name.strip_prefix("PORTCULLIS_OAUTH2_") {
        let meant = format!("{ENV_PREFIX}{key}");
        if let Some(found) = known.iter().find(|k| **k == meant) {
            return Some(found);
        }
    }
    // Up to one edit per eight characters of the part after the prefix: close enough to
    // be a typo, far enough from the next name that the guess is not random.
    let limit = (name.len().saturating_sub(ENV_PREFIX.len()) / 8).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn env_value(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    let parse_toml = |raw: &str| -> Result<toml::Value, String> {
        format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| format!("{raw:?} is not a valid TOML value"))
    };
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_owned())),
        toml::Value::Integer(_) => {
            raw.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| format!("{raw:?} is not a whole number"))
        }
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{raw:?} is not true or false")),
        },
        toml::Value::Array(_) if raw.trim_start().starts_with('[') => parse_toml(raw),
        toml::Value::Array(_) => Ok(toml::Value::Array(
            raw.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        _ => parse_toml(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().map_err(|source| ConfigError::Read { path: "tmp".into(), source })?;
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, file).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        Config::load(Some(&path), env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::defaults();
        assert_eq!(c.oauth2.access_token_expire_seconds, 36000);
        assert_eq!(c.oauth2.default_scopes, vec!["read"]);
        assert!(c.oauth2.rotate_refresh_token && c.oauth2.pkce_required && c.oidc.enabled);
        assert_eq!(c.oidc.issuer, "http://127.0.0.1:8000/o");
        // The contract's three scopes, and OpenID Connect's while it is on.
        assert_eq!(c.oauth2.all_scopes().to_string(), "email groups openid profile read write");
        let off = load("[oidc]\nenabled = false\n", &[]).unwrap();
        assert_eq!(off.oauth2.all_scopes().to_string(), "groups read write");
    }

    #[test]
    fn key_encryption_key_is_checked_and_never_shown() {
        let good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let c = load("", &[("PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY", good)]).unwrap();
        assert!(c.key_encryption_key().is_some());
        assert!(!format!("{c:?}").contains(good), "Debug of the settings shows the key");
        let bad = "c2hvcnQta2V5LXZhbHVl";
        let err = load(&format!("[oidc]\nkey_encryption_key = \"{bad}\"\n"), &[]).unwrap_err().to_string();
        assert!(err.starts_with("setting `oidc.key_encryption_key`: it is 15 bytes long"), "{err}");
        assert!(!err.contains(bad), "{err}");
        assert!(load("", &[]).unwrap().key_encryption_key().is_none());
    }

    #[test]
    fn file_then_environment() -> Result<(), ConfigError> {
        let c = load(
            "[oauth2]\naccess_token_expire_seconds = 60\nscopes = { read = \"R\", write = \"W\" }\n[oidc]\nissuer = \"https://a.example/o\"\n",
            &[
                ("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS", "90"),
                ("PORTCULLIS_DEFAULT_SCOPES", "read, write"),
                ("PORTCULLIS_OIDC_ISSUER", "https://b.example/o"),
                ("PORTCULLIS_ROTATE_REFRESH_TOKEN", "false"),
                ("UNRELATED", "x"),
            ],
        )?;
        assert_eq!(c.oauth2.access_token_expire_seconds, 90);
        assert_eq!(c.oauth2.default_scopes, vec!["read", "write"]);
        assert_eq!(c.oidc.issuer, "https://b.example/o");
        assert!(!c.oauth2.rotate_refresh_token);
        // The file's two scopes, and OpenID Connect's three.
        assert_eq!(c.oauth2.scopes.len(), 5);
        Ok(())
    }

    #[test]
    fn errors_name_the_key() {
        let err = load("[oauth2]\naccess_token_expire_seconds = \"soon\"\n", &[]).map(|_| ()).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("oauth2.access_token_expire_seconds"), "{text}");

        let text =
            load("[oauth2]\nacess_token_expire_seconds = 5\n", &[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("acess_token_expire_seconds"), "{text}");

        let text = load("", &[("PORTCULLIS_PKCE_REQUIRED", "maybe")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("PORTCULLIS_PKCE_REQUIRED"), "{text}");

        let text =
            load("[oauth2]\ndefault_scopes = [\"admin\"]\n", &[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("oauth2.default_scopes"), "{text}");

        let text = load("[oauth2]\nallowed_origins = [\"https://a.example/path\"]\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("oauth2.allowed_origins"), "{text}");
        assert!(load("[oauth2]\nallowed_origins = [\"https://a.example:8443\"]\n", &[]).is_ok());

        let text = load("[oauth2\n", &[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("not valid TOML"), "{text}");

        // Tokens would say `iss` with the slash while discovery and the endpoints
        // dropped it: one form only.
        let text = load("", &[("PORTCULLIS_OIDC_ISSUER", "https://a.example/o/")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("oidc.issuer") && text.contains("slash"), "{text}");
    }

    #[test]
    fn unknown_variables_are_named_with_a_guess() {
        let own = ["PORTCULLIS_CONFIG", "PORTCULLIS_BIND"];
        let names = [
            "PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS",
            "PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS",
            "PORTCULLIS_OAUTH2_PKCE_REQUIRED",
            "PORTCULLIS_OIDC_ISUER",
            "PORTCULLIS_STORAGE_POOL_SIZE",
            "PORTCULLIS_CONFIG",
            "PORTCULLIS_BIND",
            "PORTCULLIS_SOMETHING_ELSE_ENTIRELY",
            "PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS",
            "DATABASE_URL",
            "HOME",
            "portcullis_pkce_required",
        ];
        let unknown = unknown_env_vars(names, &own);
        let shown: Vec<(&str, Option<&str>)> =
            unknown.iter().map(|u| (u.name.as_str(), u.suggestion.as_deref())).collect();
        assert_eq!(
            shown,
            [
                ("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS", Some("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS")),
                ("PORTCULLIS_OAUTH2_PKCE_REQUIRED", Some("PORTCULLIS_PKCE_REQUIRED")),
                ("PORTCULLIS_OIDC_ISUER", Some("PORTCULLIS_OIDC_ISSUER")),
                ("PORTCULLIS_SOMETHING_ELSE_ENTIRELY", None),
            ]
        );
        // The command line's own names are passed in; without them they are unknown.
        let bare = unknown_env_vars(["PORTCULLIS_BIND"], &[]);
        assert_eq!(bare.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["PORTCULLIS_BIND"]);
    }

    #[test]
    fn every_section_has_known_variables() {
        let known = [
            "PORTCULLIS_SCOPES",
            "PORTCULLIS_JWT_ACCESS_TOKEN_AUDIENCE",
            "PORTCULLIS_PAGES_TEMPLATES_DIR",
            "PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY",
            "PORTCULLIS_STORAGE_SQLITE_DURABILITY",
            "PORTCULLIS_LIMITS_REQUEST_TIMEOUT_SECONDS",
            "PORTCULLIS_SERVER_TRUSTED_PROXIES",
        ];
        assert_eq!(unknown_env_vars(known, &[]), []);
        // What is unknown is what the settings ignore.
        let typo = [("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS".to_owned(), "5".to_owned())];
        assert_eq!(Config::load(None, typo).unwrap(), Config::defaults());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn server_settings_from_file_and_environment() {
        let c = Config::defaults();
        assert_eq!(c.server.tls_files().unwrap(), None);
        assert!(c.server.trusted_proxies.is_empty());
        assert_eq!((c.server.max_header_bytes, c.server.header_read_timeout_seconds), (16384, 20));
        let c = load(
            "[server]\ntls_certificate = \"/etc/p/cert.pem\"\ntls_private_key = \"/etc/p/key.pem\"\n\
             trusted_proxies = [\"10.0.0.0/8\"]\n",
            &[
                ("PORTCULLIS_SERVER_TRUSTED_PROXIES", "192.0.2.1, fd00::/8"),
                ("PORTCULLIS_SERVER_MAX_HEADER_BYTES", "8192"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.tls_files().unwrap(), Some((Path::new("/etc/p/cert.pem"), Path::new("/etc/p/key.pem"))));
        assert!(c.server.trusted_proxies.contains("fd00::1".parse().unwrap()));
        assert!(!c.server.trusted_proxies.contains("10.0.0.1".parse().unwrap()), "the environment wins");
        assert_eq!(c.server.max_header_bytes, 8192);
        // A certificate without its key (or the other way round) is refused by name.
        let text = load("", &[("PORTCULLIS_SERVER_TLS_CERTIFICATE", "/etc/p/cert.pem")]).unwrap_err().to_string();
        assert!(text.contains("server.tls_private_key") && text.contains("both"), "{text}");
        let text = load("[server]\ntls_private_key = \"k.pem\"\n", &[]).unwrap_err().to_string();
        assert!(text.contains("server.tls_certificate"), "{text}");
        // A proxy that is no address or network is refused, naming the key and entry.
        let text = load("[server]\ntrusted_proxies = [\"proxy.internal\"]\n", &[]).unwrap_err().to_string();
        assert!(text.contains("server.trusted_proxies") && text.contains("proxy.internal"), "{text}");
        let text = load("", &[("PORTCULLIS_SERVER_HEADER_READ_TIMEOUT_SECONDS", "0")]).unwrap_err().to_string();
        assert!(text.contains("server.header_read_timeout_seconds"), "{text}");
    }

    #[test]
    fn sqlite_durability_from_file_and_environment() {
        use crate::store::SqliteDurability;
        assert_eq!(Config::defaults().storage.sqlite_durability, SqliteDurability::Process);
        let c = load("[storage]\nsqlite_durability = \"full\"\n", &[]).unwrap();
        assert_eq!(c.storage.sqlite_durability, SqliteDurability::Full);
        let c =
            load("[storage]\nsqlite_durability = \"full\"\n", &[("PORTCULLIS_STORAGE_SQLITE_DURABILITY", "process")])
                .unwrap();
        assert_eq!(c.storage.sqlite_durability, SqliteDurability::Process);
        // An unknown mode is refused, naming the key and the modes there are.
        for (file, env) in [("[storage]\nsqlite_durability = \"off\"\n", None), ("", Some("normal"))] {
            let env: Vec<_> = env.map(|v| ("PORTCULLIS_STORAGE_SQLITE_DURABILITY", v)).into_iter().collect();
            let text = load(file, &env).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains("storage.sqlite_durability") && text.contains("`full`"), "{text}");
        }
    }

    #[test]
    fn self_service_grant_types_from_file_and_environment() {
        let defaults = Config::defaults().pages.self_service_grants();
        assert_eq!(
            defaults,
            [GrantType::AuthorizationCode, GrantType::DeviceCode, GrantType::Implicit, GrantType::OpenidHybrid],
            "the grants a person consents to; password and client credentials are for staff"
        );
        let c = load("[pages]\nself_service_grant_types = [\"authorization-code\", \"password\"]\n", &[]).unwrap();
        assert_eq!(c.pages.self_service_grants(), [GrantType::AuthorizationCode, GrantType::Password]);
        let c = load(
            "[pages]\nself_service_grant_types = []\n",
            &[("PORTCULLIS_PAGES_SELF_SERVICE_GRANT_TYPES", "device-code")],
        )
        .unwrap();
        assert_eq!(c.pages.self_service_grants(), [GrantType::DeviceCode]);
        assert!(load("[pages]\nself_service_grant_types = []\n", &[]).unwrap().pages.self_service_grants().is_empty());
        // An unknown grant is refused at load, naming the key and the grants there are.
        for (file, env) in [
            ("[pages]\nself_service_grant_types = [\"authorization_code\"]\n", None),
            ("", Some("device-code,refresh-token")),
        ] {
            let env: Vec<_> = env.map(|v| ("PORTCULLIS_PAGES_SELF_SERVICE_GRANT_TYPES", v)).into_iter().collect();
            let text = load(file, &env).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains("pages.self_service_grant_types") && text.contains("client-credentials"), "{text}");
        }
    }
}
