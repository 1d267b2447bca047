//! The audit log's records: security events as the store keeps them. What records them,
//! and writes each to the structured log as well, is [`crate::audit`].

use std::fmt;
use std::str::FromStr;

use super::StoreError;

/// What happened. The names ([`AuditKind::as_str`]) are what the database, the log and
/// the admin page's filter use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// Someone logged in through the login page.
    LoginSucceeded,
    /// A wrong username or password, at the login page or in a password grant.
    LoginFailed,
    /// A login refused, unchecked, because of too many recent failures.
    LoginThrottled,
    /// A browser session ended (the logout button, or OpenID Connect logout).
    Logout,
    /// A user answered **Authorize** (the consent page or the device page).
    ConsentGranted,
    /// A user answered **Cancel**.
    ConsentDenied,
    /// The token endpoint or the implicit flow issued tokens; the detail names the grant.
    TokenIssued,
    /// A client revoked a token (RFC 7009), or a user took an application's access back.
    TokenRevoked,
    /// A rotated-out refresh token was presented again: its whole grant is revoked.
    RefreshReuseDetected,
    /// A used authorization code was presented again: its tokens are revoked.
    CodeReplayed,
    /// A user account was created (command line or admin pages).
    UserCreated,
    /// Staff changed a user's activity, password or groups.
    UserChanged,
    /// An application was registered.
    ApplicationCreated,
    /// An application's settings were changed.
    ApplicationChanged,
    /// An application was deleted, with its tokens.
    ApplicationDeleted,
    /// A confidential application got a new secret.
    ApplicationSecretReset,
    /// The OpenID Connect signing keys were rotated.
    KeyRotated,
    /// Staff revoked an access token, or its whole grant, in the admin pages.
    AdminTokenRevoked,
}

impl AuditKind {
    /// Every kind, in the order the admin page offers them.
    pub const ALL: [Self; 18] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginThrottled,
        Self::Logout,
        Self::ConsentGranted,
        Self::ConsentDenied,
        Self::TokenIssued,
        Self::TokenRevoked,
        Self::RefreshReuseDetected,
        Self::CodeReplayed,
        Self::UserCreated,
        Self::UserChanged,
        Self::ApplicationCreated,
        Self::ApplicationChanged,
        Self::ApplicationDeleted,
        Self::ApplicationSecretReset,
        Self::KeyRotated,
        Self::AdminTokenRevoked,
    ];

    /// The kind's name in the database and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::Logout => "logout",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentDenied => "consent_denied",
            Self::TokenIssued => "token_issued",
            Self::TokenRevoked => "token_revoked",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::CodeReplayed => "code_replayed",
            Self::UserCreated => "user_created",
            Self::UserChanged => "user_changed",
            Self::ApplicationCreated => "application_created",
            Self::ApplicationChanged => "application_changed",
            Self::ApplicationDeleted => "application_deleted",
            Self::ApplicationSecretReset => "application_secret_reset",
            Self::KeyRotated => "key_rotated",
            Self::AdminTokenRevoked => "admin_token_revoked",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown audit event kind {s:?}"))
    }
}

/// The longest detail kept, in characters: a detail is a short sentence.
pub const MAX_DETAIL: usize = 300;

/// An event to record. Build it with [`NewAuditEvent::new`] and the methods after it.
/// It has no field for a credential, and its detail must never carry one: callers
/// write what happened in words (the grant, the scope, which setting changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When, seconds since the Unix epoch.
    pub occurred_at: i64,
    /// What.
    pub kind: AuditKind,
    /// The user who acted; for a failed login, the account that was tried, if it exists.
    pub user_id: Option<i64>,
    /// The application concerned, by client id.
    pub client_id: Option<String>,
    /// The address the request came from, when there was a request.
    pub client_addr: Option<String>,
    /// A short description, at most [`MAX_DETAIL`] characters, on one line.
    pub detail: String,
}

impl NewAuditEvent {
    /// An event of `kind` at `now`, with nothing else known yet.
    pub fn new(kind: AuditKind, now: i64) -> Self {
        Self { occurred_at: now, kind, user_id: None, client_id: None, client_addr: None, detail: String::new() }
    }

    /// Names the user who acted.
    pub fn user(mut self, user_id: impl Into<Option<i64>>) -> Self {
        self.user_id = user_id.into();
        self
    }

    /// Names the application.
    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// Names the address the request came from.
    pub fn addr(mut self, addr: Option<std::net::IpAddr>) -> Self {
        self.client_addr = addr.map(|a| a.to_string());
        self
    }

    /// Sets the description: control characters become spaces, so that a name someone
    /// typed cannot start a forged line in a log, and it is cut at [`MAX_DETAIL`].
    pub fn detail(mut self, detail: impl AsRef<str>) -> Self {
        self.detail = detail.as_ref().chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_DETAIL).collect();
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its row id: later events have larger ids.
    pub id: i64,
    /// What was recorded.
    pub event: NewAuditEvent,
    /// The username of [`NewAuditEvent::user_id`] now, if that user still exists.
    pub username: Option<String>,
}

/// Which events to list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only events of this user.
    pub user_id: Option<i64>,
    /// Only events of the application with this exact client id.
    pub client_id: Option<String>,
    /// Only events older than the one with this id: the next page after it.
    pub before: Option<i64>,
}

/// An `audit_events` row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct AuditEventRow {
    id: i64,
    occurred_at: i64,
    kind: String,
    user_id: Option<i64>,
    client_id: Option<String>,
    client_addr: Option<String>,
    detail: String,
    username: Option<String>,
}

impl TryFrom<AuditEventRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditEventRow) -> Result<Self, StoreError> {
        let kind = row.kind.parse().map_err(|e| StoreError::Corrupt(format!("audit event {}: {e}", row.id)))?;
        Ok(Self {
            id: row.id,
            event: NewAuditEvent {
                occurred_at: row.occurred_at,
                kind,
                user_id: row.user_id,
                client_id: row.client_id,
                client_addr: row.client_addr,
                detail: row.detail,
            },
            username: row.username,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in AuditKind::ALL {
            assert_eq!(kind.as_str().parse::<AuditKind>(), Ok(kind));
        }
        let names: std::collections::HashSet<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), AuditKind::ALL.len());
        assert!("login".parse::<AuditKind>().is_err());
    }

    #[test]
    fn details_are_one_short_line() {
        let event = NewAuditEvent::new(AuditKind::ApplicationCreated, 0).detail("name \"a\nb\"\r\u{1b}[31m");
        assert_eq!(event.detail, "name \"a b\"  [31m");
        let long = NewAuditEvent::new(AuditKind::ApplicationCreated, 0).detail("é".repeat(MAX_DETAIL + 5));
        assert_eq!(long.detail.chars().count(), MAX_DETAIL);
    }
}
