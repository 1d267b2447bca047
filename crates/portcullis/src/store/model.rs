//! The records the store keeps, as the rest of the server sees them.

use std::fmt;

use portcullis_axum::ScopeSet;

use crate::crypto::TokenHash;
use crate::proto::{AccessTokenFormat, ClientType, GrantType};

/// A person who can log in. `password_hash` is an Argon2id PHC string, `None` for an
/// account that cannot log in with a password.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// The permanent id: `sub` in tokens and introspection answers.
    pub id: i64,
    /// The unique login name (Django's rule: see
    /// [`crate::accounts::validate_username`]).
    pub username: String,
    /// The address, or empty.
    pub email: String,
    /// Given name, or empty; `given_name` in OpenID Connect claims.
    pub first_name: String,
    /// Family name, or empty; `family_name` in OpenID Connect claims.
    pub last_name: String,
    /// Argon2id PHC string; `None`: no password login.
    pub password_hash: Option<String>,
    /// Whether the user may log in and their tokens work.
    pub is_active: bool,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
    /// When the account was made, seconds since the Unix epoch.
    pub date_joined: i64,
    /// When the user last logged in on the login page, if ever.
    pub last_login: Option<i64>,
}

/// A user to create with [`Store::create_user`](super::Store::create_user).
/// [`crate::accounts::create`] checks the username and email and hashes the password
/// first.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The unique login name.
    pub username: String,
    /// The address, or empty.
    pub email: String,
    /// Given name, or empty.
    pub first_name: String,
    /// Family name, or empty.
    pub last_name: String,
    /// An Argon2id PHC string from [`crate::password::hash`]; `None`: no password login.
    pub password_hash: Option<String>,
    /// May use the admin pages.
    pub is_staff: bool,
    /// May also manage other staff in the admin pages.
    pub is_superuser: bool,
    /// When the account is made, seconds since the Unix epoch.
    pub date_joined: i64,
}

/// The fields a user may change about themselves through the API.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// A new given name; `None` keeps it.
    pub first_name: Option<String>,
    /// A new family name; `None` keeps it.
    pub last_name: Option<String>,
    /// A new address; `None` keeps it.
    pub email: Option<String>,
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The row's id.
    pub id: i64,
    /// RFC 6749 §2.2's client identifier, unique and public.
    pub client_id: String,
    /// SHA-256 of the secret (see `crypto`); `None` for public clients.
    pub client_secret_hash: Option<TokenHash>,
    /// What the consent page and the management pages call it.
    pub name: String,
    /// RFC 6749 §2.1: whether it can keep a secret.
    pub client_type: ClientType,
    /// The grants it may use; anything else is `unauthorized_client`.
    pub grant_types: Vec<GrantType>,
    /// RFC 6749 §3.1.2: where the authorization endpoint may send the browser back,
    /// compared exactly.
    pub redirect_uris: Vec<String>,
    /// OpenID Connect RP-Initiated Logout §3: where the browser may go after logging
    /// out, compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// The web origins its pages call the token, revocation and UserInfo endpoints
    /// from, as registered: CORS lets them read this client's answers (besides the
    /// origins of `oauth2.allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// The scopes this application may be granted; `None`: every configured scope.
    pub allowed_scopes: Option<ScopeSet>,
    /// Whether users are never asked to consent (for first-party applications).
    pub skip_authorization: bool,
    /// The JWS `alg` its ID tokens and JWT access tokens are signed with (`RS256`,
    /// `ES256` or `EdDSA`).
    pub algorithm: String,
    /// What its access tokens look like on the wire.
    pub access_token_format: AccessTokenFormat,
    /// The user who registered it on the application pages; `None` for one registered
    /// otherwise (with the command line, say).
    pub owner_id: Option<i64>,
    /// When it was registered, seconds since the Unix epoch.
    pub created_at: i64,
    /// When its settings last changed.
    pub updated_at: i64,
}

impl Application {
    /// Whether the application may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// An application to register with
/// [`Store::create_application`](super::Store::create_application).
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// The client identifier; [`crate::crypto::random_alphanumeric`] makes a good one.
    pub client_id: String,
    /// The hash of the secret ([`crate::crypto::Secret::hash`]); `None` for a public
    /// client.
    pub client_secret_hash: Option<TokenHash>,
    /// What the consent page and the management pages call it.
    pub name: String,
    /// RFC 6749 §2.1: whether it can keep a secret.
    pub client_type: ClientType,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// RFC 6749 §3.1.2: the exact redirection URIs it may use.
    pub redirect_uris: Vec<String>,
    /// The scopes it may be granted; `None`: every configured scope.
    pub allowed_scopes: Option<ScopeSet>,
    /// Whether users are never asked to consent.
    pub skip_authorization: bool,
    /// The JWS `alg` its tokens are signed with (`RS256`, `ES256` or `EdDSA`).
    pub algorithm: String,
    /// What its access tokens look like on the wire.
    pub access_token_format: AccessTokenFormat,
    /// The user who owns it on the application pages, if any.
    pub owner_id: Option<i64>,
    /// When it is registered, seconds since the Unix epoch.
    pub created_at: i64,
}

/// An access token as validation needs it: joined with its client and user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenRecord {
    /// The row's id.
    pub id: i64,
    /// The application it was issued to.
    pub application_id: i64,
    /// That application's client identifier.
    pub client_id: String,
    /// The user it acts for; `None` for a client's own token (client credentials).
    pub user_id: Option<i64>,
    /// That user's username.
    pub username: Option<String>,
    /// Whether the user may still act; `None` for tokens without a user.
    pub user_active: Option<bool>,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The family of the refresh token issued with it, if any: revoking the family
    /// revokes it too.
    pub refresh_family: Option<String>,
}

/// Whether a token works, and if not, why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Works.
    Live,
    /// Past its expiry.
    Expired,
    /// Revoked (RFC 7009), whether or not it has also expired.
    Revoked,
    /// Unexpired and unrevoked, but its user is deactivated: refused while they are.
    UserInactive,
}

impl TokenStatus {
    /// How the admin pages name the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UserInactive => "user inactive",
        }
    }
}

impl AccessTokenRecord {
    /// Not revoked, not expired (RFC 6749 §1.4 "expires_in" counted from issue), and
    /// its user, if any, still active.
    pub fn status(&self, now: i64) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else if self.user_active == Some(false) {
            TokenStatus::UserInactive
        } else {
            TokenStatus::Live
        }
    }

    /// The one rule every token check uses.
    pub fn is_valid(&self, now: i64) -> bool {
        self.status(now) == TokenStatus::Live
    }
}

/// A refresh token as the token endpoint needs it (RFC 6749 §6).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    /// The row's id.
    pub id: i64,
    /// The application it was issued to.
    pub application_id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The access token issued with it, while that row exists.
    pub access_token_id: Option<i64>,
    /// Every refresh token descended from one original grant shares a family; reuse of
    /// a rotated-out member revokes the whole family.
    pub family: String,
    /// The token it was rotated from, if any.
    pub parent_id: Option<i64>,
    /// The grant's scope, space-separated: what a refresh may ask for at most (RFC 6749
    /// §6).
    pub scope: String,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// When this token was exchanged for a successor (rotation).
    pub rotated_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What to do with a refresh token presented at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// Never used (or rotation is off): exchange it.
    Exchange,
    /// Rotated out less than the grace period ago: a client that lost the answer is
    /// retrying. Replace the successor it never received.
    GraceRetry,
    /// Rotated out earlier than that: someone is replaying it. Revoke the family.
    Reuse,
    /// Revoked or expired.
    Dead,
}

impl RefreshTokenRecord {
    /// What to do with this token when presented at `now`, given the settings' grace
    /// period (`oauth2.refresh_token_grace_period_seconds`).
    pub fn verdict(&self, now: i64, grace_seconds: i64) -> RefreshVerdict {
        if self.revoked_at.is_some() || self.expires_at.is_some_and(|e| now >= e) {
            return RefreshVerdict::Dead;
        }
        match self.rotated_at {
            None => RefreshVerdict::Exchange,
            Some(at) if grace_seconds > 0 && now - at <= grace_seconds => RefreshVerdict::GraceRetry,
            Some(_) => RefreshVerdict::Reuse,
        }
    }
}

/// New tokens to store in one transaction: an access token and, optionally, a refresh
/// token issued with it.
#[derive(Debug, Clone)]
pub struct NewTokens {
    /// The application they are issued to.
    pub application_id: i64,
    /// The user they act for; `None` for a client's own token.
    pub user_id: Option<i64>,
    /// The access token's scope.
    pub scope: String,
    /// When they are issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// The hash of the access token's value.
    pub access_hash: TokenHash,
    /// When the access token stops working.
    pub access_expires_at: i64,
    /// The authorization code these tokens came from, so a replayed code can revoke them.
    pub code_id: Option<i64>,
    /// The refresh token issued with it, if any.
    pub refresh: Option<NewRefresh>,
}

/// A refresh token to store with the access token of [`NewTokens`].
#[derive(Debug, Clone)]
pub struct NewRefresh {
    /// The hash of the refresh token's value.
    pub hash: TokenHash,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// Its family: a new random one for a fresh grant (see
    /// [`RefreshTokenRecord::family`]).
    pub family: String,
    /// The grant's scope, which a refresh may narrow but never widen (RFC 6749 §6).
    pub scope: String,
}

/// A refresh token exchange, checked and applied in one transaction.
#[derive(Debug, Clone)]
pub struct RefreshExchange {
    /// The presented refresh token.
    pub old_id: i64,
    /// The time of the exchange, seconds since the Unix epoch.
    pub now: i64,
    /// `oauth2.refresh_token_grace_period_seconds`: how long a rotated-out token may
    /// still be retried.
    pub grace_seconds: i64,
    /// Issue a successor refresh token (rotation) or keep the old one.
    pub rotate: bool,
    /// The new access token, and the successor when rotating (its family is ignored:
    /// it joins the old token's).
    pub new: NewTokens,
}

/// What became of a [`RefreshExchange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The new tokens are stored.
    Issued,
    /// The token had been rotated out: its whole family is now revoked.
    Reused,
    /// The token was revoked or expired by the time the transaction ran.
    Dead,
}

/// A browser session. The cookie holds a random id; the store keeps its hash.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The hash of the id the cookie carries.
    pub id_hash: TokenHash,
    /// The logged-in user; `None` for an anonymous session that only carries the login
    /// form's CSRF token.
    pub user_id: Option<i64>,
    /// The token every form of the session must echo.
    pub csrf_token: String,
    /// When the user entered their password (OpenID Connect Core §2 `auth_time`).
    pub auth_time: Option<i64>,
    /// When the session starts, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it ends.
    pub expires_at: i64,
}

/// A stored browser session (see [`NewSession`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    /// The logged-in user; `None` for an anonymous session.
    pub user_id: Option<i64>,
    /// The token every form of the session must echo.
    pub csrf_token: String,
    /// When the user entered their password (OpenID Connect Core §2 `auth_time`).
    pub auth_time: Option<i64>,
    /// When the session ends, seconds since the Unix epoch.
    pub expires_at: i64,
}

/// An authorization code to store (RFC 6749 §4.1.2).
#[derive(Debug, Clone)]
pub struct NewCode {
    /// The hash of the code's value.
    pub hash: TokenHash,
    /// The application the code is for.
    pub application_id: i64,
    /// The user who approved the request.
    pub user_id: i64,
    /// The `redirect_uri` the request named, or empty when it named none: RFC 6749
    /// §4.1.3 requires the token request to repeat it exactly when it was given.
    pub redirect_uri: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// RFC 7636 §4.2 `code_challenge`, or empty when the request sent none.
    pub code_challenge: String,
    /// RFC 7636 §4.3 `code_challenge_method` (`plain` or `S256`), or empty with no
    /// challenge.
    pub code_challenge_method: String,
    /// OpenID Connect Core §3.1.2.1 `nonce`, repeated in the ID token the code buys.
    pub nonce: Option<String>,
    /// When the user logged in, for the ID token's `auth_time`.
    pub auth_time: i64,
    /// When it is issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working (`oauth2.authorization_code_expire_seconds` later).
    pub expires_at: i64,
}

/// A stored authorization code (see [`NewCode`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRecord {
    /// The row's id.
    pub id: i64,
    /// The application the code is for.
    pub application_id: i64,
    /// The user who approved the request.
    pub user_id: i64,
    /// The `redirect_uri` the request named, or empty (see [`NewCode::redirect_uri`]).
    pub redirect_uri: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// RFC 7636 `code_challenge`, or empty.
    pub code_challenge: String,
    /// RFC 7636 `code_challenge_method`, or empty.
    pub code_challenge_method: String,
    /// OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the user logged in.
    pub auth_time: i64,
    /// When it was issued, seconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was exchanged, if it was: a second exchange is a replay.
    pub used_at: Option<i64>,
}

/// What became of an attempt to exchange a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// The code was good: the tokens are stored and the code is used.
    Issued,
    /// The code had been used: everything issued from it is now revoked.
    Replayed,
    /// The code had expired: nothing is issued.
    Expired,
}

/// An OpenID Connect signing key as stored. `private_key` is the key's DER (PKCS#1 for
/// RSA, PKCS#8 for the others), sealed with AES-256-GCM when `encrypted` (see
/// `oidc::keys`); `public_jwk` is its public half as a JWK, published until the key has
/// been retired for longer than any token it signed can live.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    /// The row's id.
    pub id: i64,
    /// The key id (`kid`): its RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS `alg` it signs with.
    pub algorithm: String,
    /// The private key's DER, sealed when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// The public half, as a JWK in JSON.
    pub public_jwk: String,
    /// When it was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When a rotation retired it; `None` while it signs.
    pub retired_at: Option<i64>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key, sealed or not.
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("encrypted", &self.encrypted)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A signing key to store; see [`SigningKeyRecord`].
#[derive(Clone)]
pub struct NewSigningKey {
    /// The key id: its RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS `alg` it signs with.
    pub algorithm: String,
    /// The private key's DER, sealed when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// The public half, as a JWK in JSON.
    pub public_jwk: String,
    /// When it is made, seconds since the Unix epoch.
    pub created_at: i64,
}

/// A device authorization request (RFC 8628 §3.1) to store: the device code only as
/// its hash, the user code as the user types it, normalised.
#[derive(Debug, Clone)]
pub struct NewDeviceGrant {
    /// The hash of the device code (RFC 8628 §3.2 `device_code`).
    pub device_code_hash: TokenHash,
    /// The user code, normalised (upper case, no separator).
    pub user_code: String,
    /// The application that asked.
    pub application_id: i64,
    /// The scopes asked for (once allowed), space-separated.
    pub scope: String,
    /// How long the device must wait between polls (RFC 8628 §3.5).
    pub interval_seconds: i64,
    /// When the request was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When the codes stop working (RFC 8628 §3.2 `expires_in`).
    pub expires_at: i64,
}

/// A stored device authorization request, with its client's id and name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceGrantRecord {
    /// The row's id.
    pub id: i64,
    /// The application that asked.
    pub application_id: i64,
    /// That application's client identifier.
    pub client_id: String,
    /// That application's name, for the page that asks the user.
    pub client_name: String,
    /// The scopes asked for, space-separated.
    pub scope: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    /// The user who answered, once someone has.
    pub user_id: Option<i64>,
    /// How long the device must wait between polls; grows by 5 on each `slow_down`.
    pub interval_seconds: i64,
    /// When the device last polled, if it has.
    pub last_polled_at: Option<i64>,
    /// When the request was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When the codes stop working.
    pub expires_at: i64,
}

/// What a device's poll of the token endpoint finds (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePoll {
    /// Approved: the tokens are stored and the grant is used up.
    Issued,
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: polled within the interval, which is now 5 seconds longer.
    SlowDown,
    /// `access_denied`.
    Denied,
    /// `expired_token`.
    Expired,
    /// Already exchanged, or no such grant: `invalid_grant`.
    Gone,
}

/// How many rows `cleartokens` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Access tokens deleted.
    pub access_tokens: u64,
    /// Refresh tokens deleted.
    pub refresh_tokens: u64,
    /// Authorization codes deleted.
    pub codes: u64,
    /// Device authorization requests past their expiry, answered or not.
    pub device_grants: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(rotated_at: Option<i64>, revoked_at: Option<i64>, expires_at: Option<i64>) -> RefreshTokenRecord {
        RefreshTokenRecord {
            id: 1,
            application_id: 1,
            user_id: 1,
            access_token_id: None,
            family: "f".into(),
            parent_id: None,
            scope: "read".into(),
            created_at: 0,
            expires_at,
            rotated_at,
            revoked_at,
        }
    }

    #[test]
    fn refresh_verdicts() {
        assert_eq!(token(None, None, None).verdict(100, 0), RefreshVerdict::Exchange);
        assert_eq!(token(None, Some(50), None).verdict(100, 0), RefreshVerdict::Dead);
        assert_eq!(token(None, None, Some(100)).verdict(100, 0), RefreshVerdict::Dead);
        assert_eq!(token(Some(90), None, None).verdict(100, 0), RefreshVerdict::Reuse);
        assert_eq!(token(Some(90), None, None).verdict(100, 10), RefreshVerdict::GraceRetry);
        assert_eq!(token(Some(89), None, None).verdict(100, 10), RefreshVerdict::Reuse);
    }

    #[test]
    fn token_status() {
        let token = AccessTokenRecord {
            id: 1,
            application_id: 1,
            client_id: "c".into(),
            user_id: Some(1),
            username: Some("alice".into()),
            user_active: Some(true),
            scope: "read".into(),
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
            refresh_family: None,
        };
        assert_eq!(token.status(99), TokenStatus::Live);
        assert!(token.is_valid(99) && !token.is_valid(100));
        assert_eq!(token.status(100), TokenStatus::Expired);
        assert_eq!(AccessTokenRecord { revoked_at: Some(5), ..token.clone() }.status(0), TokenStatus::Revoked);
        assert_eq!(AccessTokenRecord { user_active: Some(false), ..token }.status(0), TokenStatus::UserInactive);
    }

    #[test]
    fn grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert!("authorization_code".parse::<GrantType>().is_err());
    }
}
