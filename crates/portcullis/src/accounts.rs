//! User accounts: who may log in ([`Accounts`](crate::accounts::Accounts)), and the
//! rules that every way of making or changing one of Portcullis's own shares (the
//! `portcullis` command line and the admin pages validate and hash the same way).

use std::sync::Arc;

use async_trait::async_trait;

use crate::password::{self, PasswordError};
use crate::store::{LinkedUser, NewUser, Store, StoreError, User};

/// Where the users who log in come from: Portcullis's own table by default
/// ([`StoreAccounts`]), or a host application's user database, so that a host with
/// its own users needs no second set of them. What django-oauth-toolkit leaves to
/// Django's authentication backends.
///
/// The provider calls [`Accounts::authenticate`] for the login page and the password
/// grant, and [`Accounts::user`] whenever it needs to know a user is still there and
/// active (every page of a session, code and refresh exchanges, UserInfo).
///
/// ```
/// use async_trait::async_trait;
/// use portcullis::accounts::{Account, Accounts};
/// use portcullis::store::StoreError;
///
/// /// The host's users, here a fixed list.
/// struct Staff;
///
/// #[async_trait]
/// impl Accounts for Staff {
///     async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
///         // A real host checks a password hash, in constant time.
///         let ok = username == "ada" && password == "correct horse battery";
///         Ok(ok.then(|| Account::new(7, "ada")))
///     }
///
///     async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
///         Ok((id == 7).then(|| Account::new(7, "ada")))
///     }
/// }
/// ```
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// The active account that `username` and `password` prove, or `None` for wrong
    /// credentials, an unknown user or an inactive one: all three must look alike to
    /// the caller, and should cost the same time.
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError>;

    /// The active account with this id, or `None` if it is gone or deactivated, which
    /// ends its sessions and stops its refresh tokens and codes from working; for a
    /// host's accounts it also marks the provider's copy of the user inactive, which
    /// stops their access tokens everywhere. A host that closes an account should also
    /// say so at once with
    /// [`Provider::deactivate_user`](crate::provider::Provider::deactivate_user): the
    /// provider asks this only where it already looks a user up, never to check a
    /// token.
    async fn user(&self, id: i64) -> Result<Option<Account>, StoreError>;
}

/// A user as the provider needs to know them. `id` is the account's permanent number:
/// it becomes `sub` in ID tokens, introspection and JWT access tokens.
///
/// ```
/// use portcullis::accounts::Account;
/// use portcullis::store::User;
///
/// // A host's staff member, as the host's `Accounts` answers for them.
/// let grace = Account {
///     email: "grace@example.com".into(),
///     first_name: "Grace".into(),
///     last_name: "Hopper".into(),
///     is_staff: true,
///     ..Account::new(12, "grace")
/// };
/// // Portcullis mirrors it into a user row of its own: same id, active, no password.
/// let mirrored = User::from(grace.clone());
/// assert_eq!((mirrored.id, mirrored.username.as_str()), (12, "grace"));
/// assert!(mirrored.is_active && mirrored.is_staff && mirrored.password_hash.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The permanent id: `sub` in ID tokens, introspection and JWT access tokens.
    pub id: i64,
    /// The login name; `preferred_username` in OpenID Connect claims.
    pub username: String,
    /// The address, or empty; `email` in OpenID Connect claims.
    pub email: String,
    /// Given name, or empty; `given_name` in OpenID Connect claims.
    pub first_name: String,
    /// Family name, or empty; `family_name` in OpenID Connect claims.
    pub last_name: String,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
}

impl Account {
    /// An account with just an id and a username; set the other fields as needed.
    ///
    /// ```
    /// let mut ada = portcullis::accounts::Account::new(7, "ada");
    /// ada.email = "ada@example.com".into();
    /// assert_eq!((ada.id, ada.username.as_str()), (7, "ada"));
    /// ```
    pub fn new(id: i64, username: impl Into<String>) -> Self {
        Self {
            id,
            username: username.into(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            is_staff: false,
            is_superuser: false,
        }
    }

    fn of(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
        }
    }

    /// The account as the store mirrors it.
    fn linked(&self) -> LinkedUser<'_> {
        LinkedUser {
            id: self.id,
            username: &self.username,
            email: &self.email,
            first_name: &self.first_name,
            last_name: &self.last_name,
            is_staff: self.is_staff,
            is_superuser: self.is_superuser,
        }
    }
}

/// The user the rest of the server works with. Only the fields an account has are
/// consulted on the paths that go through [`Accounts`]; the admin pages, which need the
/// rest (join date, last login), read Portcullis's own rows.
impl From<Account> for User {
    fn from(account: Account) -> Self {
        Self {
            id: account.id,
            username: account.username,
            email: account.email,
            first_name: account.first_name,
            last_name: account.last_name,
            password_hash: None,
            is_active: true,
            is_staff: account.is_staff,
            is_superuser: account.is_superuser,
            date_joined: 0,
            last_login: None,
        }
    }
}

/// The default [`Accounts`]: Portcullis's own `users` table, with Argon2id passwords.
///
/// ```
/// use portcullis::accounts::{self, Accounts, NewAccount, StoreAccounts};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let store = portcullis::store::connect(&format!("sqlite://{}", dir.path().join("auth.db").display())).await?;
/// # store.migrate().await?;
/// let account = NewAccount {
///     username: "ada".into(),
///     email: "ada@example.com".into(),
///     password: "correct horse battery".into(),
///     is_staff: false,
///     is_superuser: false,
/// };
/// let ada = accounts::create(store.as_ref(), account, 1_700_000_000).await?;
///
/// let accounts = StoreAccounts::new(store.clone());
/// let found = accounts.authenticate("ada", "correct horse battery").await?;
/// assert_eq!(found.map(|a| a.id), Some(ada.id));
/// // A wrong password and an unknown user look alike.
/// assert_eq!(accounts.authenticate("ada", "wrong horse battery").await?, None);
/// assert_eq!(accounts.authenticate("nobody", "correct horse battery").await?, None);
/// // A deactivated user is gone as far as logging in goes.
/// store.set_user_active(ada.id, false).await?;
/// assert_eq!(accounts.user(ada.id).await?, None);
/// # Ok(())
/// # }
/// ```
pub struct StoreAccounts {
    store: Arc<dyn Store>,
}

impl StoreAccounts {
    /// The accounts of `store`'s `users` table.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Accounts for StoreAccounts {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        let user = self.store.user_by_username(username).await?.filter(|u| u.is_active);
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        // An unknown or inactive user costs the same work (see `password::verify`).
        let matches = password::verify_async(password.to_owned(), stored)
            .await
            .map_err(|e| StoreError::Unavailable(format!("password check: {e}")))?;
        Ok(user.filter(|_| matches).as_ref().map(Account::of))
    }

    async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
        Ok(self.store.user_by_id(id).await?.filter(|u| u.is_active).as_ref().map(Account::of))
    }
}

/// A host's [`Accounts`], with each account it vouches for mirrored into a row of
/// Portcullis's `users` table under the same id and without a password: tokens,
/// codes, consents and sessions refer to users by id, and the database keeps those
/// references whole. The row is refreshed every time the host answers for the user,
/// and marked inactive when the host answers that the user is gone: every token check
/// reads that mark (with the token, from the cache), so the user's access tokens stop
/// without the host being asked on each request.
pub(crate) struct LinkedAccounts {
    host: Arc<dyn Accounts>,
    store: Arc<dyn Store>,
}

impl LinkedAccounts {
    pub(crate) fn new(host: Arc<dyn Accounts>, store: Arc<dyn Store>) -> Self {
        Self { host, store }
    }

    /// Writes only when the mirror is missing or differs, so that a page view costs a
    /// read, not a write.
    async fn link(&self, account: Option<Account>) -> Result<Option<Account>, StoreError> {
        if let Some(account) = &account {
            let mirrored = self.store.user_by_id(account.id).await?;
            if mirrored.is_none_or(|row| !row.is_active || Account::of(&row) != *account) {
                self.store.link_user(&account.linked()).await?;
            }
        }
        Ok(account)
    }
}

#[async_trait]
impl Accounts for LinkedAccounts {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        let account = self.host.authenticate(username, password).await?;
        self.link(account).await
    }

    async fn user(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let account = self.host.user(id).await?.filter(|a| a.id == id);
        if account.is_none() {
            self.unlink(id).await?;
        }
        self.link(account).await
    }
}

impl LinkedAccounts {
    /// The host says user `id` is gone or inactive: so is the mirror, which stops the
    /// user's access tokens at the store verifier, introspection and `/api/me/` as a
    /// revocation would (the store drops its cache). A read, and a write only the first
    /// time.
    async fn unlink(&self, id: i64) -> Result<(), StoreError> {
        if self.store.user_by_id(id).await?.is_some_and(|row| row.is_active) {
            self.store.set_user_active(id, false).await?;
            tracing::info!(user_id = id, "the host's accounts no longer vouch for the user: deactivated");
        }
        Ok(())
    }
}

/// Why an account could not be created or changed.
///
/// ```
/// use portcullis::accounts::{validate_email, validate_username, AccountError};
/// use portcullis::password::PasswordError;
///
/// assert!(matches!(validate_username("ada lovelace"), Err(AccountError::BadUsername(_))));
/// assert!(matches!(validate_email("ada"), Err(AccountError::BadEmail(_))));
/// let weak = AccountError::from(PasswordError::TooShort);
/// assert_eq!(weak.to_string(), "the password must be at least 8 characters long");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username breaks [`validate_username`]'s rule.
    #[error("username {0:?} must be 1 to 150 letters, digits or @ . + - _")]
    BadUsername(String),
    /// The email breaks [`validate_email`]'s rule.
    #[error("email {0:?} is not an address")]
    BadEmail(String),
    /// Another user has the username.
    #[error("a user named {0:?} already exists")]
    Taken(String),
    /// The password breaks a rule of [`crate::password::hash`], or could not be hashed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Django's rule: 1 to 150 letters, digits and `@ . + - _`.
///
/// ```
/// use portcullis::accounts::validate_username;
///
/// for good in ["ada", "ada.lovelace+test@example.com", "Ådå_1"] {
///     assert!(validate_username(good).is_ok(), "{good}");
/// }
/// for bad in ["", "ada lovelace", "ada/admin", &"a".repeat(151)] {
///     assert!(validate_username(bad).is_err(), "{bad}");
/// }
/// ```
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
///
/// ```
/// use portcullis::accounts::validate_email;
///
/// assert!(validate_email("").is_ok(), "no address at all is allowed");
/// assert!(validate_email("ada@example.com").is_ok());
/// assert!(validate_email("ada@example.com\r\nBcc: everyone@example.com").is_err());
/// assert!(validate_email("ada.example.com").is_err());
/// ```
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
///
/// ```
/// use portcullis::accounts::{hash_password, AccountError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), AccountError> {
/// let stored = hash_password("correct horse battery".to_owned()).await?;
/// assert!(portcullis::password::verify("correct horse battery", Some(&stored)));
/// assert!(matches!(hash_password("12345678".to_owned()).await, Err(AccountError::Password(_))));
/// # Ok(())
/// # }
/// ```
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    Ok(password::hash_async(password).await?)
}

/// A user account to create, password in plain text.
///
/// ```
/// use portcullis::accounts::NewAccount;
///
/// let account = NewAccount {
///     username: "ada".into(),
///     email: String::new(),
///     password: "correct horse battery".into(),
///     is_staff: true,
///     is_superuser: false,
/// };
/// // Safe to log: the password is not in it.
/// assert!(!format!("{account:?}").contains("horse"));
/// ```
///
/// [`create`] stores one.
pub struct NewAccount {
    /// The login name, checked by [`validate_username`].
    pub username: String,
    /// The address, or empty; checked by [`validate_email`].
    pub email: String,
    /// The password in plain text, checked and hashed by [`crate::password::hash`].
    pub password: String,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages (and is staff).
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
///
/// ```
/// use portcullis::accounts::{self, AccountError, NewAccount};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let store = portcullis::store::connect(&format!("sqlite://{}", dir.path().join("auth.db").display())).await?;
/// # store.migrate().await?;
/// let admin = || NewAccount {
///     username: "admin".into(),
///     email: "admin@example.com".into(),
///     password: "correct horse battery".into(),
///     is_staff: false,
///     is_superuser: true,
/// };
/// let user = accounts::create(store.as_ref(), admin(), 1_700_000_000).await?;
/// assert!(user.is_superuser && user.is_staff, "a superuser is staff too");
/// assert!(user.password_hash.is_some_and(|hash| hash.starts_with("$argon2id$")));
/// // The same username again: refused, and nothing written.
/// assert!(matches!(accounts::create(store.as_ref(), admin(), 1_700_000_001).await, Err(AccountError::Taken(_))));
/// assert_eq!(store.count_users().await?, 1);
/// # Ok(())
/// # }
/// ```
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
