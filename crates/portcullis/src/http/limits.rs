//! Limits on what one client, account or address may ask for, and on how much the
//! server takes on at once (the `[limits]` settings).
//!
//! - Token requests are rate-limited in this instance's memory: a generic cell rate (a
//!   token bucket of `token_request_burst` refilled at `token_requests_per_second`) per
//!   authenticated client, and per client id and address for public clients and for
//!   failed client authentications (see [`RateLimits`]). Over it, the answer is `429`
//!   with `Retry-After`.
//! - Failed logins are counted per username and per client address in the database,
//!   so that every instance sees them: the login page and the password grant share the
//!   count, and over it both answer `429`.
//! - Requests beyond `max_concurrent_requests` in flight, and requests that take longer
//!   than `request_timeout_seconds`, are answered `503` with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How many keys a limiter holds before it drops those whose bucket is full again
/// (forgetting them changes nothing): a flood of made-up client ids or addresses
/// cannot grow it without end.
const PRUNE_ABOVE: usize = 10_000;

/// The longest client id kept as is in a limiter's key. Longer ones (no client
/// Portcullis registers has one) are kept as their SHA-256, so that a flood of made-up
/// ids of 64 KiB each cannot make the limiters hold gigabytes before they are pruned.
const LONGEST_KEPT_ID: usize = 128;

/// A limiter's key for `client_id`.
fn key_of(client_id: &str) -> String {
    if client_id.len() <= LONGEST_KEPT_ID {
        return client_id.to_owned();
    }
    let hash = crate::crypto::TokenHash::of(client_id);
    hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A bucket counted per client id and address, rather than per client id alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PerAddress {
    /// Requests of a public client: it has many users at many addresses, and no
    /// secret, so anyone may send requests in its name.
    Public(String, Option<IpAddr>),
    /// Requests whose client authentication failed.
    Failed(String, Option<IpAddr>),
}

/// The per-instance rate limits, shared by every request. Cheap to clone.
///
/// [`AppState::new`](crate::http::AppState::new) makes them from `[limits]`
/// ([`LimitSettings`]). Each bucket refills at `token_requests_per_second` and holds
/// `token_request_burst`; over it, the answer is `429` with `Retry-After` (RFC 6585
/// §4). Client ids are public (they are in every authorization URL), so what a
/// stranger can send in a client's name must not use up that client's rate:
///
/// - an authenticated confidential client is counted by its client id;
/// - a public client, by its client id and the address the request came from;
/// - a request whose client authentication fails, in a bucket of its own for that
///   client id and address. Once that bucket is empty, requests for that client id
///   from that address are refused before their secret is even checked, until it
///   refills: the client's own requests, from its own address, go on.
///
/// ```
/// use std::sync::Arc;
///
/// use axum::body::Body;
/// use http::{Request, StatusCode};
/// use portcullis::http::{router, AppState};
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
/// // One token request a second per bucket, and none at once above that.
/// config.limits.token_requests_per_second = 1;
/// config.limits.token_request_burst = 1;
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let router: axum::Router = router(AppState::new(store, config, Arc::new(SystemClock))?);
///
/// let ask = |client_id: &str| {
///     let form = format!("grant_type=client_credentials&client_id={client_id}&client_secret=guess");
///     Request::post("/o/token/")
///         .header("content-type", "application/x-www-form-urlencoded")
///         .body(Body::from(form))
/// };
/// // A wrong secret: refused by authentication (RFC 6749 §5.2), and counted as a failure.
/// let first = router.clone().oneshot(ask("batch-job")?).await?;
/// assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
/// // The next guess within the second from the same place is refused.
/// let second = router.clone().oneshot(ask("batch-job")?).await?;
/// assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(second.headers()["retry-after"], "1");
/// // Each client id has buckets of its own.
/// let other = router.oneshot(ask("nightly-report")?).await?;
/// assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimits {
    inner: Option<Arc<Limiters>>,
}

struct Limiters {
    /// Authenticated confidential clients, by client id.
    clients: DefaultKeyedRateLimiter<String>,
    /// Public clients and failed authentications, by client id and address.
    per_address: DefaultKeyedRateLimiter<PerAddress>,
    /// Client ids and addresses whose failures used up their bucket, and until when
    /// they are refused unchecked. Looked at only while it holds something.
    blocked: Mutex<HashMap<(String, Option<IpAddr>), Instant>>,
    blocked_len: AtomicUsize,
    checks: AtomicU32,
}

impl RateLimits {
    /// The limits `settings` ask for.
    pub(crate) fn new(settings: &LimitSettings) -> Self {
        let inner = NonZeroU32::new(settings.token_requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.token_request_burst).unwrap_or(rate);
            let quota = Quota::per_second(rate).allow_burst(burst);
            Arc::new(Limiters {
                clients: RateLimiter::keyed(quota),
                per_address: RateLimiter::keyed(quota),
                blocked: Mutex::new(HashMap::new()),
                blocked_len: AtomicUsize::new(0),
                checks: AtomicU32::new(0),
            })
        });
        Self { inner }
    }

    /// Before authentication: refuses a client id from an address whose failed
    /// authentications used up their bucket, so that guessing stops there, right
    /// secret or not.
    pub(crate) fn check_unauthenticated(&self, client_id: &str, address: Option<IpAddr>) -> Result<(), Throttled> {
        let Some(limits) = &self.inner else { return Ok(()) };
        if limits.blocked_len.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let mut blocked = limits.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (key_of(client_id), address);
        match blocked.get(&key) {
            Some(until) if *until > Instant::now() => Err(Throttled::after(*until - Instant::now())),
            Some(_) => {
                blocked.remove(&key);
                limits.blocked_len.store(blocked.len(), Ordering::Relaxed);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After authentication: counts one request of a client, by its id when it is
    /// confidential, by its id and `address` when it is public.
    pub(crate) fn check_authenticated(
        &self,
        client_id: &str,
        public: bool,
        address: Option<IpAddr>,
    ) -> Result<(), Throttled> {
        let Some(limits) = &self.inner else { return Ok(()) };
        limits.prune();
        let refused = if public {
            limits.per_address.check_key(&PerAddress::Public(key_of(client_id), address)).err()
        } else {
            limits.clients.check_key(&key_of(client_id)).err()
        };
        match refused {
            Some(not_until) => Err(Throttled::after(not_until.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    /// After a failed authentication: counts it against the client id and `address`.
    /// `Err` when that bucket is used up: this request is answered `429`, and the
    /// next ones from there are refused unchecked until it refills.
    pub(crate) fn charge_failure(&self, client_id: &str, address: Option<IpAddr>) -> Result<(), Throttled> {
        let Some(limits) = &self.inner else { return Ok(()) };
        limits.prune();
        let key = PerAddress::Failed(key_of(client_id), address);
        let Err(not_until) = limits.per_address.check_key(&key) else { return Ok(()) };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut blocked = limits.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocked.len() >= PRUNE_ABOVE {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
        blocked.insert((key_of(client_id), address), Instant::now() + wait);
        limits.blocked_len.store(blocked.len(), Ordering::Relaxed);
        Err(Throttled::after(wait))
    }
}

impl Limiters {
    /// Every thousandth check looks at the sizes; pruning walks the whole map.
    fn prune(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 != 0 {
            return;
        }
        if self.clients.len() > PRUNE_ABOVE {
            self.clients.retain_recent();
            self.clients.shrink_to_fit();
        }
        if self.per_address.len() > PRUNE_ABOVE {
            self.per_address.retain_recent();
            self.per_address.shrink_to_fit();
        }
    }
}

/// Failed logins, counted in the database per username and per address within a
/// window. The login page and the password grant both go through here.
///
/// An attempt takes its place in the count before the password is checked
/// ([`LoginThrottle::begin`]), and gives it back only when the password was right
/// ([`LoginThrottle::succeeded`]): guesses sent at once cannot all be checked against a
/// count that none of them has raised yet, on one instance or many. A place whose
/// attempt never finishes (a request dropped mid-way) stays, counted as a failure.
pub(crate) struct LoginThrottle<'a> {
    store: &'a dyn Store,
    settings: &'a LimitSettings,
    now: i64,
    account: String,
    address: String,
}

/// The places an attempt took in the counts; give them back with
/// [`LoginThrottle::succeeded`], or let them stand as the failure.
#[must_use = "a place not given back counts as a failed login"]
pub(crate) struct Attempt(Vec<i64>);

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
        Self { store, settings, now, account: format!("user:{username}"), address: format!("addr:{address}") }
    }

    /// Takes the attempt's place under each limit that is on, or `Err(Throttled)` inside
    /// `Ok` when the account or the address has used up its failures: the password must
    /// not even be checked then (a right one would tell a guesser it was right).
    pub(crate) async fn begin(&self) -> Result<Result<Attempt, Throttled>, StoreError> {
        let window = i64::from(self.settings.login_failure_window_seconds);
        // 0 is no limit, as for every other limit; compared as a count it would refuse
        // every login.
        let limits: Vec<(&str, u32)> = [
            (self.account.as_str(), self.settings.login_failures_per_account),
            (self.address.as_str(), self.settings.login_failures_per_address),
        ]
        .into_iter()
        .filter(|(_, limit)| *limit > 0)
        .collect();
        if limits.is_empty() {
            // Nothing would read a count.
            return Ok(Ok(Attempt(Vec::new())));
        }
        Ok(match self.store.reserve_login_attempt(&limits, self.now - window, self.now).await? {
            Some(places) => Ok(Attempt(places)),
            // The oldest failure may leave the window sooner; the whole window is a wait
            // that is sure to be enough.
            None => Err(Throttled::after(Duration::from_secs(window.unsigned_abs()))),
        })
    }

    /// The password was right: gives the attempt's places back, and forgets the
    /// account's failures (the address's stay: one right password must not reset a
    /// guesser's count across many accounts).
    pub(crate) async fn succeeded(&self, attempt: Attempt) -> Result<(), StoreError> {
        if attempt.0.is_empty() {
            return Ok(());
        }
        self.store.release_login_attempts(&attempt.0).await?;
        self.store.clear_login_failures(&self.account).await
    }
}

/// Wrong device codes typed by one user, counted like failed logins (RFC 8628 §5.1:
/// "the authorization server SHOULD rate-limit … to prevent brute force"), and with the
/// same place taken before the code is looked up.
pub(crate) async fn begin_device_code_attempt(
    store: &dyn Store,
    user_id: i64,
    now: i64,
) -> Result<Result<Attempt, Throttled>, StoreError> {
    let key = format!("device:user:{user_id}");
    let since = now - DEVICE_CODE_WINDOW_SECONDS;
    Ok(match store.reserve_login_attempt(&[(key.as_str(), MAX_WRONG_DEVICE_CODES)], since, now).await? {
        Some(places) => Ok(Attempt(places)),
        None => Err(Throttled::after(Duration::from_secs(DEVICE_CODE_WINDOW_SECONDS.unsigned_abs()))),
    })
}

/// The code was right: its place is given back.
pub(crate) async fn device_code_accepted(store: &dyn Store, attempt: Attempt) -> Result<(), StoreError> {
    store.release_login_attempts(&attempt.0).await
}

/// Wrong device codes allowed per user in [`DEVICE_CODE_WINDOW_SECONDS`]; more get `429`.
pub(crate) const MAX_WRONG_DEVICE_CODES: u32 = 5;
/// The window the wrong device codes are counted in.
pub(crate) const DEVICE_CODE_WINDOW_SECONDS: i64 = 15 * 60;

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

    const HERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));
    const THERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7)));

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limits = limits(1, 3);
        for _ in 0..3 {
            assert_eq!(limits.check_authenticated("app", false, HERE), Ok(()));
        }
        // A confidential client is one bucket, wherever its requests come from.
        let refused = limits.check_authenticated("app", false, THERE).unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1, "one request a second: the next fits within a second");
        // Another client has its own bucket.
        assert_eq!(limits.check_authenticated("other", false, HERE), Ok(()));
    }

    #[test]
    fn a_public_client_is_counted_per_address() {
        let limits = limits(1, 2);
        assert_eq!(limits.check_authenticated("spa", true, HERE), Ok(()));
        assert_eq!(limits.check_authenticated("spa", true, HERE), Ok(()));
        assert!(limits.check_authenticated("spa", true, HERE).is_err());
        // Anyone can send requests in a public client's name: one address using up
        // its bucket leaves the client's other users theirs.
        assert_eq!(limits.check_authenticated("spa", true, THERE), Ok(()));
    }

    #[test]
    fn failed_authentications_never_use_up_the_clients_own_rate() {
        let limits = limits(1, 3);
        // A stranger floods the client id with wrong secrets.
        let mut refused = 0;
        for _ in 0..800 {
            if limits.check_unauthenticated("app", HERE).is_err() || limits.charge_failure("app", HERE).is_err() {
                refused += 1;
            }
        }
        // Three failures, then refused (a slow run may see a cell or two refill).
        assert!((790..=797).contains(&refused), "{refused} refused");
        // From the stranger's address, the client id is refused before any check...
        assert!(limits.check_unauthenticated("app", HERE).is_err());
        // ...and the client itself, elsewhere, is neither blocked nor out of its rate.
        assert_eq!(limits.check_unauthenticated("app", THERE), Ok(()));
        for _ in 0..3 {
            assert_eq!(limits.check_authenticated("app", false, THERE), Ok(()));
        }
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limits = limits(0, 0);
        for _ in 0..10_000 {
            assert_eq!(limits.check_authenticated("app", false, HERE), Ok(()));
            assert_eq!(limits.check_authenticated("spa", true, HERE), Ok(()));
            assert_eq!(limits.charge_failure("app", HERE), Ok(()));
            assert_eq!(limits.check_unauthenticated("app", HERE), Ok(()));
        }
    }

    #[test]
    fn long_client_ids_are_kept_as_their_hash() {
        assert_eq!(key_of("abc"), "abc");
        let long = "x".repeat(60_000);
        assert_eq!(key_of(&long).len(), 64);
        assert_ne!(key_of(&long), key_of(&"y".repeat(60_000)));
        // And they are limited like any other.
        let limits = limits(1, 1);
        assert_eq!(limits.charge_failure(&long, HERE), Ok(()));
        assert!(limits.charge_failure(&long, HERE).is_err());
        assert!(limits.check_unauthenticated(&long, HERE).is_err());
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
            let _ = limits.check_authenticated(&format!("made-up-{i}"), false, HERE);
            let _ = limits.charge_failure(&format!("made-up-{i}"), HERE);
        }
        let inner = limits.inner.as_ref().unwrap();
        let held = inner.clients.len().max(inner.per_address.len());
        // Each made-up id took one of a thousand-request burst, refilled within a
        // millisecond: pruning drops them as it passes.
        assert!(held <= PRUNE_ABOVE + 1024, "{held} keys held");
    }
}
