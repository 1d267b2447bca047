//! Human passwords: Argon2id (RFC 9106) with the argon2 crate's defaults (19 MiB, two
//! passes, one lane: OWASP's recommended minimum), stored as PHC strings so parameters
//! can be raised later without breaking old hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// The shortest password accepted, in characters.
///
/// ```
/// use portcullis::password::{self, PasswordError, MIN_LENGTH};
///
/// // Characters, not bytes: seven letters are too few in any script.
/// assert_eq!(password::hash(&"ü".repeat(MIN_LENGTH - 1)), Err(PasswordError::TooShort));
/// ```
pub const MIN_LENGTH: usize = 8;
/// The longest password accepted, in bytes: the ceiling bounds the work an attacker can
/// make the server do per login attempt.
///
/// ```
/// use portcullis::password::{self, PasswordError, MAX_LENGTH};
///
/// assert_eq!(password::hash(&"x".repeat(MAX_LENGTH + 1)), Err(PasswordError::TooLong));
/// // Refused at login too, before any hashing.
/// assert!(!password::verify(&"x".repeat(MAX_LENGTH + 1), None));
/// ```
pub const MAX_LENGTH: usize = 1024;

/// Why a password was refused (Django's default validators, in part), or not hashed.
///
/// ```
/// use portcullis::password::{self, PasswordError};
///
/// for (refused, why) in [("short", PasswordError::TooShort), ("20260101", PasswordError::Numeric)] {
///     assert_eq!(password::hash(refused), Err(why));
/// }
/// // The message is the rule, fit to show on a page; it never repeats the password.
/// let message = PasswordError::Numeric.to_string();
/// assert_eq!(message, "the password must not be entirely numeric");
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Fewer than [`MIN_LENGTH`] characters.
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    /// More than [`MAX_LENGTH`] bytes.
    #[error("the password must be at most {MAX_LENGTH} characters long")]
    TooLong,
    /// Digits only.
    #[error("the password must not be entirely numeric")]
    Numeric,
    /// The hash could not be made (or the hashing threads are gone).
    #[error("the password could not be hashed")]
    Hashing,
}

/// Checks a new password against the rules, then hashes it. CPU-heavy: in async code,
/// call [`hash_async`] instead.
///
/// ```
/// use portcullis::password::{self, PasswordError};
///
/// let stored = password::hash("correct horse battery")?;
/// assert!(stored.starts_with("$argon2id$"));
/// assert!(password::verify("correct horse battery", Some(&stored)));
/// assert!(!password::verify("wrong horse battery", Some(&stored)));
/// // No stored hash (an unknown user) costs the same work, and never matches.
/// assert!(!password::verify("correct horse battery", None));
/// assert_eq!(password::hash("12345678901"), Err(PasswordError::Numeric));
/// # Ok::<(), PasswordError>(())
/// ```
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(PasswordError::Numeric);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Whether `password` matches the stored PHC string. With no stored hash (an unknown
/// user, or one without a password) it still spends the same work on a dummy hash, so
/// response time does not reveal which usernames exist. CPU-heavy, as [`hash`] is: in
/// async code, call [`verify_async`] instead.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
    match parsed {
        Some(parsed) => matches(password, &parsed),
        None => {
            if let Some(dummy) = dummy_hash().and_then(|s| PasswordHash::new(s).ok()) {
                let _ = matches(password, &dummy);
            }
            false
        }
    }
}

/// Recomputes the Argon2 hash with the stored algorithm, version, parameters and salt
/// and compares it in constant time: what `argon2`'s own `verify_password` does, except
/// that the working memory (19 MiB by default) is the calling thread's, kept from one
/// call to the next. Allocating it each time cost a tenth of a password check in page
/// faults and zeroing, and left the allocator's arenas holding hundreds of MiB after a
/// burst of logins. Anything that is not an Argon2 hash this
/// code can read does not match.
fn matches(password: &str, stored: &PasswordHash<'_>) -> bool {
    use subtle::ConstantTimeEq;
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(algorithm) = argon2::Algorithm::try_from(stored.algorithm) else { return false };
    let Ok(version) = stored.version.map(argon2::Version::try_from).transpose() else { return false };
    let Ok(params) = argon2::Params::try_from(stored) else { return false };
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = MEMORY.with_borrow_mut(|memory| {
        // Never zeroed between calls: Argon2 writes every block before it reads it.
        memory.resize(blocks, argon2::Block::default());
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory[..blocks])
    });
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

/// Runs Argon2 work on a pool of threads, one per CPU core, made on first use.
///
/// Each Argon2id evaluation holds 19 MiB and a core for tens of milliseconds. Without a
/// bound, a burst of logins or password grants becomes hundreds of blocking threads,
/// each growing its own allocator arena (measured: over 7 GiB resident at 32
/// concurrent password grants, never returned), and none finishes sooner. A semaphore
/// in front of Tokio's blocking threads bounded the concurrency but not the threads a
/// job could land on, so the arenas still multiplied (475 MiB held after a W2 run). A
/// fixed pool keeps it to one arena per core. Jobs whose caller has gone (a client that
/// hung up while queued) are skipped. The pool is per process because the cores are;
/// it is the one piece of shared state in this module.
async fn on_a_core<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    type Job = Box<dyn FnOnce() + Send>;
    static POOL: OnceLock<Option<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = std::sync::Arc::new(std::sync::Mutex::new(jobs));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..cores {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || loop {
                // The lock is held only to take a job, not while running it.
                let next = match jobs.lock() {
                    Ok(jobs) => jobs.recv(),
                    Err(_) => return,
                };
                match next {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            if spawned.is_err() {
                return None;
            }
        }
        Some(queue)
    });
    let (done, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        if !done.is_closed() {
            let _ = done.send(job());
        }
    });
    if pool.as_ref().is_none_or(|queue| queue.send(job).is_err()) {
        return Err(PasswordError::Hashing);
    }
    answer.await.map_err(|_| PasswordError::Hashing)
}

/// [`hash`], off the async workers and within the per-core limit.
///
/// ```
/// use portcullis::password::{self, PasswordError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), PasswordError> {
/// let stored = password::hash_async("correct horse battery".to_owned()).await?;
/// assert!(password::verify_async("correct horse battery".to_owned(), Some(stored.clone())).await?);
/// assert!(!password::verify_async("Correct horse battery".to_owned(), Some(stored)).await?);
/// assert_eq!(password::hash_async("1234".to_owned()).await, Err(PasswordError::TooShort));
/// # Ok(())
/// # }
/// ```
pub async fn hash_async(password: String) -> Result<String, PasswordError> {
    on_a_core(move || hash(&password)).await?
}

/// [`verify`], off the async workers and within the per-core limit.
pub async fn verify_async(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    on_a_core(move || verify(&password, stored.as_deref())).await
}

fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY.get_or_init(|| hash("portcullis-timing-equaliser").ok()).as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_forms_agree_and_bound_the_work() {
        let stored = hash_async("correct horse".into()).await.unwrap();
        let checks = (0..8).map(|i| {
            let stored = stored.clone();
            tokio::spawn(verify_async(if i % 2 == 0 { "correct horse" } else { "wrong horse" }.into(), Some(stored)))
        });
        for (i, check) in checks.enumerate() {
            assert_eq!(check.await.unwrap().unwrap(), i % 2 == 0);
        }
        assert_eq!(hash_async("short".into()).await, Err(PasswordError::TooShort));
    }

    /// The reused-memory check agrees with the argon2 crate's own `verify_password`, on
    /// hashes made with other parameters too, and keeps agreeing when the thread's
    /// memory was last sized for different parameters.
    #[test]
    fn matches_agrees_with_the_library() {
        use argon2::password_hash::PasswordVerifier;
        let small = argon2::Params::new(1024, 1, 1, None).unwrap();
        let big = argon2::Params::new(8192, 3, 2, Some(24)).unwrap();
        for params in [small, big, argon2::Params::default()] {
            for algorithm in [argon2::Algorithm::Argon2id, argon2::Algorithm::Argon2i] {
                let hasher = Argon2::new(algorithm, argon2::Version::V0x13, params.clone());
                let salt = SaltString::generate(&mut OsRng);
                let stored = hasher.hash_password(b"pass phrase", &salt).unwrap().to_string();
                let parsed = PasswordHash::new(&stored).unwrap();
                for attempt in ["pass phrase", "pass phrasf", ""] {
                    let library = Argon2::default().verify_password(attempt.as_bytes(), &parsed).is_ok();
                    assert_eq!(matches(attempt, &parsed), library, "{stored} with {attempt:?}");
                    assert_eq!(library, attempt == "pass phrase");
                }
            }
        }
    }

    #[test]
    fn hashes_verify_and_rules_hold() {
        let stored = hash("correct horse").unwrap_or_default();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&stored)));
        assert!(!verify("wrong horse", Some(&stored)));
        assert!(!verify("correct horse", None));
        assert!(!verify("correct horse", Some("$argon2id$v=19$m=19456,t=2,p=1$bm90LWEtc2FsdA$bm90LWEtaGFzaA")));
        assert!(!verify("correct horse", Some("not a hash")));
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash("12345678901"), Err(PasswordError::Numeric));
        assert_eq!(hash(&"x".repeat(MAX_LENGTH + 1)), Err(PasswordError::TooLong));
    }
}
