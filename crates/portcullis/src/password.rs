//! Human passwords: Argon2id (RFC 9106) with the argon2 crate's defaults (19 MiB, two
//! passes, one lane: OWASP's recommended minimum), stored as PHC strings so parameters
//! can be raised later without breaking old hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// The shortest and longest passwords accepted. The ceiling bounds the work an
/// attacker can make the server do per login attempt.
pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} characters long")]
    TooLong,
    #[error("the password must not be entirely numeric")]
    Numeric,
    #[error("the password could not be hashed")]
    Hashing,
}

/// Checks a new password against the rules, then hashes it. CPU-heavy: call from a
/// blocking thread in async code.
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
/// response time does not reveal which usernames exist. CPU-heavy, as `hash` is.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
    match parsed {
        Some(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        None => {
            if let Some(dummy) = dummy_hash().and_then(|s| PasswordHash::new(s).ok()) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &dummy);
            }
            false
        }
    }
}

/// Runs Argon2 work on a blocking thread, at most one job per CPU core at a time.
///
/// Each Argon2id evaluation holds 19 MiB and a core for tens of milliseconds. Without a
/// bound, a burst of logins or password grants becomes hundreds of blocking threads,
/// each growing its own allocator arena (measured: over 7 GiB resident at 32
/// concurrent password grants, never returned), and none finishes sooner. Waiting for
/// a core here costs nothing the CPU was not already charging. The limit is per
/// process because the cores are; it is the one piece of shared state in this module.
async fn on_a_core<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
    static CORES: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let cores = CORES.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    });
    let _permit = cores.acquire().await.map_err(|_| PasswordError::Hashing)?;
    tokio::task::spawn_blocking(job).await.map_err(|_| PasswordError::Hashing)
}

/// [`hash`], off the async workers and within the per-core limit.
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

    #[test]
    fn hashes_verify_and_rules_hold() {
        let stored = hash("correct horse").unwrap_or_default();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&stored)));
        assert!(!verify("wrong horse", Some(&stored)));
        assert!(!verify("correct horse", None));
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash("12345678901"), Err(PasswordError::Numeric));
        assert_eq!(hash(&"x".repeat(MAX_LENGTH + 1)), Err(PasswordError::TooLong));
    }
}
