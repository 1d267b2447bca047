use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. Protocol code takes the time as an argument and never
/// reads the system clock itself, so tests can move time forward without sleeping.
///
/// A clock of one's own, here one that runs an hour ahead, goes to
/// [`ProviderBuilder::clock`](crate::provider::ProviderBuilder::clock):
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis::clock::{Clock, SystemClock};
///
/// struct AnHourAhead;
///
/// impl Clock for AnHourAhead {
///     fn now(&self) -> i64 {
///         SystemClock.now() + 3600
///     }
/// }
///
/// let clock: Arc<dyn Clock> = Arc::new(AnHourAhead);
/// assert!(clock.now() - SystemClock.now() >= 3599);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The time, in seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The real time.
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
///
/// use portcullis::clock::{Clock, SystemClock};
///
/// let before = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
/// assert!(SystemClock.now() >= before);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// A clock that stands still until told to move: for tests of expiry. Give it to
/// [`ProviderBuilder::clock`](crate::provider::ProviderBuilder::clock) or
/// [`AppState::new`](crate::http::AppState::new), and keep a handle to move it.
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis::clock::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_700_000_000));
/// let shared: Arc<dyn Clock> = clock.clone();
/// clock.advance(3600);
/// assert_eq!(shared.now(), 1_700_003_600);
/// ```
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock that reads `start` until advanced.
    pub fn new(start: i64) -> Self {
        Self(AtomicI64::new(start))
    }

    /// Moves the time on by `seconds` (back, if negative).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
