//! `[limits]`: rate limits and how much the server takes on at once.

use serde::{Deserialize, Serialize};

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
