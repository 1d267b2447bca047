//! The rules for user accounts that every way of making or changing one shares: the
//! `portcullis` command line and the admin pages validate and hash the same way.

use crate::password::{self, PasswordError};
use crate::store::{NewUser, Store, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username {0:?} must be 1 to 150 letters, digits or @ . + - _")]
    BadUsername(String),
    #[error("email {0:?} is not an address")]
    BadEmail(String),
    #[error("a user named {0:?} already exists")]
    Taken(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Django's rule: 1 to 150 letters, digits and `@ . + - _`.
pub fn validate_username(username: &str) -> Result<(), AccountError> {
    let ok = !username.is_empty()
        && username.chars().count() <= 150
        && username.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadUsername(username.to_owned()))
    }
}

/// An email may be empty (Django's default); otherwise it must at least look like an
/// address, on one line and of a length a mail system accepts (RFC 5321 §4.5.3.1.3).
pub fn validate_email(email: &str) -> Result<(), AccountError> {
    let ok = email.is_empty()
        || (email.contains('@') && email.len() <= 254 && !email.chars().any(|c| c.is_control() || c.is_whitespace()));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadEmail(email.to_owned()))
    }
}

/// Checks a new password against the rules and hashes it with Argon2id, on a blocking
/// thread: hashing takes tens of milliseconds of CPU.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    Ok(password::hash_async(password).await?)
}

/// A user account to create, password in plain text.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub is_staff: bool,
    pub is_superuser: bool,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish()
    }
}

/// Validates, hashes the password and creates the user in one statement: on any
/// failure nothing is written.
pub async fn create(store: &dyn Store, account: NewAccount, now: i64) -> Result<User, AccountError> {
    validate_username(&account.username)?;
    validate_email(&account.email)?;
    // Checked first to spare the hashing; the unique index still decides a race.
    if store.user_by_username(&account.username).await?.is_some() {
        return Err(AccountError::Taken(account.username));
    }
    let hash = hash_password(account.password).await?;
    let user = NewUser {
        username: account.username,
        email: account.email,
        first_name: String::new(),
        last_name: String::new(),
        password_hash: Some(hash),
        is_staff: account.is_staff || account.is_superuser,
        is_superuser: account.is_superuser,
        date_joined: now,
    };
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => AccountError::Taken(user.username.clone()),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails() {
        for good in ["alice", "a.b+c-d_e@f", "Ünïcode", &"x".repeat(150)] {
            assert!(validate_username(good).is_ok(), "{good:?}");
        }
        for bad in ["", "a b", "a/b", "<x>", &"x".repeat(151)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
        for good in ["", "a@b.c"] {
            assert!(validate_email(good).is_ok(), "{good:?}");
        }
        for bad in ["nope", "a @b.c", "a@b\nc", &format!("a@{}", "b".repeat(260))] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }
}
