//! `[pages]`: the HTML pages.

use serde::{Deserialize, Serialize};

use crate::proto::GrantType;

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
    /// (possible only in settings built in code, since
    /// [`Config::load`](super::Config::load) refuses one) offers nothing.
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
