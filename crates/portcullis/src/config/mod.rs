//! Settings: built-in defaults, then `portcullis.toml`, then `PORTCULLIS_*` environment
//! variables (the environment wins). Key names follow django-oauth-toolkit's
//! `OAUTH2_PROVIDER` keys in snake case. Unknown keys and values of the wrong type are
//! errors that name the key, never silently ignored.

mod env;
mod limits;
mod oauth2;
mod oidc;
mod pages;
mod secret;
mod server;
mod storage;

use std::path::{Path, PathBuf};

use portcullis_axum::ScopeSet;
use serde::{Deserialize, Serialize};

use self::env::apply_env;
pub(crate) use self::env::unknown_env_vars;
pub use self::limits::LimitSettings;
pub use self::oauth2::{IntrospectionPolicy, OAuth2Settings};
pub use self::oidc::{OidcSettings, OIDC_SCOPES};
pub use self::pages::PagesSettings;
pub use self::secret::SecretSetting;
pub use self::server::ServerSettings;
pub use self::storage::StorageSettings;
use crate::proto::{GrantType, ResourceUri};

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
        for resource in &o.allowed_resources {
            if let Err(why) = ResourceUri::parse(resource) {
                return invalid(
                    "oauth2.allowed_resources",
                    format!("{resource:?}: {} (RFC 8707 §2)", why.description()),
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
