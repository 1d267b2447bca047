//! The records the store keeps, as the rest of the server sees them.

use std::fmt;
use std::str::FromStr;

use portcullis_axum::ScopeSet;

use crate::crypto::TokenHash;

/// A person who can log in. `password_hash` is an Argon2id PHC string, `None` for an
/// account that cannot log in with a password.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: i64,
    pub last_login: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: Option<String>,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: i64,
}

/// The fields a user may change about themselves through the API.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Can keep a secret: authenticates with one.
    Confidential,
    /// Cannot (a browser or native app): identifies itself by `client_id` alone.
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err(format!("unknown client type {s:?} (expected confidential or public)")),
        }
    }
}

/// What an application's access tokens are on the wire. Either way the server keeps
/// only the token's hash, so introspection, revocation and the store-backed check treat
/// both alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// Random strings that mean something only to the server: a resource server asks
    /// the server (or its database) about each one, so revocation takes effect at once.
    #[default]
    Opaque,
    /// Signed JWTs (RFC 9068) that a resource server can check offline against the
    /// JWKS. A revoked JWT stays acceptable to such a server until it expires, unless
    /// that server introspects.
    Jwt,
}

impl AccessTokenFormat {
    pub const ALL: [AccessTokenFormat; 2] = [Self::Opaque, Self::Jwt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

impl FromStr for AccessTokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown access token format {s:?} (expected opaque or jwt)"))
    }
}

/// The grants an application may use, named as django-oauth-toolkit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    Implicit,
    Password,
    ClientCredentials,
    DeviceCode,
    OpenidHybrid,
}

impl GrantType {
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::Password,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::OpenidHybrid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization-code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client-credentials",
            Self::DeviceCode => "device-code",
            Self::OpenidHybrid => "openid-hybrid",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|g| g.as_str()).collect();
            format!("unknown grant type {s:?} (expected one of {})", names.join(", "))
        })
    }
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: i64,
    pub client_id: String,
    /// SHA-256 of the secret (see `crypto`); `None` for public clients.
    pub client_secret_hash: Option<TokenHash>,
    pub name: String,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_origins: Vec<String>,
    /// The scopes this application may be granted; `None`: every configured scope.
    pub allowed_scopes: Option<ScopeSet>,
    pub skip_authorization: bool,
    pub algorithm: String,
    pub access_token_format: AccessTokenFormat,
    pub owner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Application {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub client_id: String,
    pub client_secret_hash: Option<TokenHash>,
    pub name: String,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Option<ScopeSet>,
    pub skip_authorization: bool,
    pub algorithm: String,
    pub access_token_format: AccessTokenFormat,
    pub owner_id: Option<i64>,
    pub created_at: i64,
}

/// An access token as validation needs it: joined with its client and user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenRecord {
    pub id: i64,
    pub application_id: i64,
    pub client_id: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    /// Whether the user may still act; `None` for tokens without a user.
    pub user_active: Option<bool>,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub refresh_family: Option<String>,
}

/// Whether a token works, and if not, why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Live,
    Expired,
    Revoked,
    /// Unexpired and unrevoked, but its user is deactivated: refused while they are.
    UserInactive,
}

impl TokenStatus {
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

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    pub id: i64,
    pub application_id: i64,
    pub user_id: i64,
    pub access_token_id: Option<i64>,
    /// Every refresh token descended from one original grant shares a family; reuse of
    /// a rotated-out member revokes the whole family.
    pub family: String,
    pub parent_id: Option<i64>,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// When this token was exchanged for a successor (rotation).
    pub rotated_at: Option<i64>,
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
    pub application_id: i64,
    pub user_id: Option<i64>,
    /// The access token's scope.
    pub scope: String,
    pub created_at: i64,
    pub access_hash: TokenHash,
    pub access_expires_at: i64,
    /// The authorization code these tokens came from, so a replayed code can revoke them.
    pub code_id: Option<i64>,
    pub refresh: Option<NewRefresh>,
}

#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: TokenHash,
    pub expires_at: Option<i64>,
    pub family: String,
    /// The grant's scope, which a refresh may narrow but never widen (RFC 6749 §6).
    pub scope: String,
}

/// A refresh token exchange, checked and applied in one transaction.
#[derive(Debug, Clone)]
pub struct RefreshExchange {
    pub old_id: i64,
    pub now: i64,
    pub grace_seconds: i64,
    /// Issue a successor refresh token (rotation) or keep the old one.
    pub rotate: bool,
    /// The new access token, and the successor when rotating (its family is ignored:
    /// it joins the old token's).
    pub new: NewTokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    Issued,
    /// The token had been rotated out: its whole family is now revoked.
    Reused,
    /// The token was revoked or expired by the time the transaction ran.
    Dead,
}

/// A browser session. The cookie holds a random id; the store keeps its hash.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: TokenHash,
    pub user_id: Option<i64>,
    pub csrf_token: String,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub user_id: Option<i64>,
    pub csrf_token: String,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
}

/// An authorization code to store (RFC 6749 §4.1.2).
#[derive(Debug, Clone)]
pub struct NewCode {
    pub hash: TokenHash,
    pub application_id: i64,
    pub user_id: i64,
    /// The `redirect_uri` the request named, or empty when it named none: RFC 6749
    /// §4.1.3 requires the token request to repeat it exactly when it was given.
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRecord {
    pub id: i64,
    pub application_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What became of an attempt to exchange a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemOutcome {
    Issued,
    /// The code had been used: everything issued from it is now revoked.
    Replayed,
    Expired,
}

/// An OpenID Connect signing key as stored. `private_key` is the key's DER (PKCS#1 for
/// RSA, PKCS#8 for the others), sealed with AES-256-GCM when `encrypted` (see
/// `oidc::keys`); `public_jwk` is its public half as a JWK, published until the key has
/// been retired for longer than any token it signed can live.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub id: i64,
    pub kid: String,
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub encrypted: bool,
    pub public_jwk: String,
    pub created_at: i64,
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
    pub kid: String,
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub encrypted: bool,
    pub public_jwk: String,
    pub created_at: i64,
}

/// A device authorization request (RFC 8628 §3.1) to store: the device code only as
/// its hash, the user code as the user types it, normalised.
#[derive(Debug, Clone)]
pub struct NewDeviceGrant {
    pub device_code_hash: TokenHash,
    pub user_code: String,
    pub application_id: i64,
    pub scope: String,
    pub interval_seconds: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A stored device authorization request, with its client's id and name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceGrantRecord {
    pub id: i64,
    pub application_id: i64,
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    pub user_id: Option<i64>,
    pub interval_seconds: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
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
    pub access_tokens: u64,
    pub refresh_tokens: u64,
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
