//! Limits on what one client, account or address may ask for, and on how much the
//! server takes on at once (the `[limits]` settings).
//!
//! - Token requests are rate-limited per `client_id`, in this instance's memory: a
//!   generic cell rate (a token bucket of `token_request_burst` refilled at
//!   `token_requests_per_second`). Over it, the answer is `429` with `Retry-After`.
//! - Failed logins are counted per username and per client address in the database,
//!   so that every instance sees them: the login page and the password grant share the
//!   count, and over it both answer `429`.
//! - Requests beyond `max_concurrent_requests` in flight, and requests that take longer
//!   than `request_timeout_seconds`, are answered `503` with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use crate::config::LimitSettings;
use crate::store::{Store, StoreError};

/// A request refused for going over a limit, and when it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttled {
    /// Whole seconds to wait (at least 1): the `Retry-After` value (RFC 9110 §10.2.3).
    pub retry_after_seconds: u64,
}

impl Throttled {
    fn after(wait: Duration) -> Self {
        // Rounded up: retrying after the rounded-down value could be refused again.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self { retry_after_seconds: seconds.max(1) }
    }

    /// Puts `Retry-After` on `response`.
    pub(crate) fn mark(&self, response: &mut Response) {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(self.retry_after_seconds));
    }
}

/// How many keys the token limiter holds before it drops those whose bucket is full
/// again (forgetting them changes nothing): a flood of made-up client ids cannot grow
/// it without end.
const PRUNE_ABOVE: usize = 10_000;

/// The per-instance rate limits, shared by every request. Cheap to clone.
///
/// [`AppState::new`](crate::app::AppState::new) makes them from `[limits]`
/// ([`LimitSettings`]), and the token endpoint counts each request by its `client_id`
/// before it authenticates the client, so that a client id under attack costs no
/// secret checks. Over the rate, the answer is `429` with `Retry-After` (RFC 6585 §4):
///
/// ```
/// use std::sync::Arc;
///
/// use axum::body::Body;
/// use http::{Request, StatusCode};
/// use portcullis::app::{self, AppState};
/// use portcullis::clock::SystemClock;
/// use portcullis::config::Config;
/// use tower::ServiceExt as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let mut config = Config::defaults();
/// config.oidc.enabled = false; // no signing keys to make for this example
/// // One token request a second per client, and none at once above that.
/// config.limits.token_requests_per_second = 1;
/// config.limits.token_request_burst = 1;
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let router: axum::Router = app::router(AppState::new(store, config, Arc::new(SystemClock))?);
///
/// let ask = |client_id: &str| {
///     let form = format!("grant_type=client_credentials&client_id={client_id}&client_secret=guess");
///     Request::post("/o/token/")
///         .header("content-type", "application/x-www-form-urlencoded")
///         .body(Body::from(form))
/// };
/// // No such client: refused by authentication (RFC 6749 §5.2), but counted.
/// let first = router.clone().oneshot(ask("batch-job")?).await?;
/// assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
/// // The next guess within the second is not even checked.
/// let second = router.clone().oneshot(ask("batch-job")?).await?;
/// assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(second.headers()["retry-after"], "1");
/// // Each client id has a bucket of its own.
/// let other = router.oneshot(ask("nightly-report")?).await?;
/// assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimits {
    token: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    checks: Arc<AtomicU32>,
}

impl RateLimits {
    /// The limits `settings` ask for.
    pub(crate) fn new(settings: &LimitSettings) -> Self {
        let token = NonZeroU32::new(settings.token_requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.token_request_burst).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
        });
        Self { token, checks: Arc::new(AtomicU32::new(0)) }
    }

    /// Counts one token request by `client_id`, or refuses it.
    pub(crate) fn check_token_request(&self, client_id: &str) -> Result<(), Throttled> {
        let Some(limiter) = &self.token else {
            return Ok(());
        };
        // Every thousandth check looks at the size; pruning walks the whole map.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 0 && limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(&client_id.to_owned())
            .map_err(|not_until| Throttled::after(not_until.wait_time_from(DefaultClock::default().now())))
    }
}

/// Failed logins, counted in the database per username and per address within a
/// window. The login page and the password grant both go through here.
pub(crate) struct LoginThrottle<'a> {
    store: &'a dyn Store,
    settings: &'a LimitSettings,
    now: i64,
    keys: [String; 2],
}

impl<'a> LoginThrottle<'a> {
    /// The counts for a login as `username` from `address` (unknown: counted together
    /// with every other request whose address is unknown).
    pub(crate) fn new(
        store: &'a dyn Store,
        settings: &'a LimitSettings,
        now: i64,
        username: &str,
        address: Option<IpAddr>,
    ) -> Self {
        let address = address.map(|a| a.to_string()).unwrap_or_default();
        Self { store, settings, now, keys: [format!("user:{username}"), format!("addr:{address}")] }
    }

    /// `Err(Throttled)` inside `Ok` when the account or the address has used up its
    /// failures: the login must not even be tried (a right password then would tell
    /// a guesser it was right).
    pub(crate) async fn check(&self) -> Result<Result<(), Throttled>, StoreError> {
        let window = i64::from(self.settings.login_failure_window_seconds);
        let since = self.now - window;
        let limits = [self.settings.login_failures_per_account, self.settings.login_failures_per_address];
        for (key, limit) in self.keys.iter().zip(limits) {
            // 0 is no limit, as for every other limit; compared as a count it would
            // refuse every login.
            if limit > 0 && self.store.login_failures(key, since).await? >= i64::from(limit) {
                // The oldest failure may leave the window sooner; the whole window is a
                // wait that is sure to be enough.
                return Ok(Err(Throttled::after(Duration::from_secs(window.unsigned_abs()))));
            }
        }
        Ok(Ok(()))
    }

    /// Counts a failed login against the account and the address.
    pub(crate) async fn failed(&self) -> Result<(), StoreError> {
        if self.settings.login_failures_per_account == 0 && self.settings.login_failures_per_address == 0 {
            // Nothing would read the count.
            return Ok(());
        }
        self.store.record_login_failure(&self.keys, self.now).await
    }

    /// Forgets the account's failures after a successful login (the address's stay:
    /// one right password must not reset a guesser's count across many accounts).
    pub(crate) async fn succeeded(&self) -> Result<(), StoreError> {
        self.store.clear_login_failures(&self.keys[0]).await
    }
}

/// The answer to a request the server will not take on now: `503` with `Retry-After`
/// (RFC 9110 §15.6.4: "the server is currently unable to handle the request due to a
/// temporary overload").
pub(crate) fn overloaded() -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, "The server is busy; try again shortly.\n").into_response();
    Throttled { retry_after_seconds: 1 }.mark(&mut response);
    response
}

/// Wraps `router` so that at most `max_concurrent_requests` are served at once (more
/// are answered [`overloaded`] at once, not queued) and each takes at most
/// `request_timeout_seconds` (then it is dropped, which rolls back its transaction,
/// and answered `503`).
pub(crate) fn guard<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    settings: &LimitSettings,
) -> axum::Router<S> {
    use axum::error_handling::HandleErrorLayer;
    use tower::ServiceBuilder;

    let router = match settings.request_timeout_seconds {
        0 => router,
        seconds => router.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    tracing::warn!("request timed out");
                    overloaded()
                }))
                .timeout(Duration::from_secs(u64::from(seconds))),
        ),
    };
    match settings.max_concurrent_requests {
        0 => router,
        limit => router.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async { overloaded() }))
                .load_shed()
                // Global: `Router::layer` wraps each route on its own, and a plain
                // concurrency limit would count each route's requests apart.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limit as usize)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32) -> RateLimits {
        RateLimits::new(&LimitSettings {
            token_requests_per_second: rate,
            token_request_burst: burst,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limits = limits(1, 3);
        for _ in 0..3 {
            assert_eq!(limits.check_token_request("app"), Ok(()));
        }
        let refused = limits.check_token_request("app").unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1, "one request a second: the next fits within a second");
        // Another client has its own bucket.
        assert_eq!(limits.check_token_request("other"), Ok(()));
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limits = limits(0, 0);
        for _ in 0..10_000 {
            assert_eq!(limits.check_token_request("app"), Ok(()));
        }
    }

    #[test]
    fn waits_are_rounded_up_to_whole_seconds() {
        assert_eq!(Throttled::after(Duration::from_millis(1)).retry_after_seconds, 1);
        assert_eq!(Throttled::after(Duration::from_millis(1500)).retry_after_seconds, 2);
        assert_eq!(Throttled::after(Duration::from_secs(900)).retry_after_seconds, 900);
        assert_eq!(Throttled::after(Duration::ZERO).retry_after_seconds, 1);
    }

    #[test]
    fn made_up_client_ids_do_not_grow_the_limiter_without_end() {
        let limits = limits(1000, 1000);
        for i in 0..(PRUNE_ABOVE * 3) {
            let _ = limits.check_token_request(&format!("made-up-{i}"));
        }
        let held = limits.token.as_ref().map(|l| l.len()).unwrap_or_default();
        // Each made-up id took one of a thousand-request burst, refilled within a
        // millisecond: pruning drops them as it passes.
        assert!(held <= PRUNE_ABOVE + 1024, "{held} keys held");
    }
}
