//! The audit log: security events as the store keeps them. Nothing ever updates or
//! deletes an event. The server's recorder also writes each to the structured log.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::{Result, StoreError};

/// What happened. The names ([`AuditKind::as_str`]) are what the database, the log and
/// the admin page's filter use.
///
/// ```
/// use portcullis::store::AuditKind;
///
/// assert_eq!(AuditKind::RefreshReuseDetected.as_str(), "refresh_reuse_detected");
/// assert_eq!(AuditKind::TokenIssued.to_string(), "token_issued");
/// // `/admin/audit/?kind=code_replayed` reads its filter back from the name.
/// assert_eq!("code_replayed".parse::<AuditKind>(), Ok(AuditKind::CodeReplayed));
/// assert!("login".parse::<AuditKind>().is_err());
/// // Every kind has a name of its own.
/// assert!(AuditKind::ALL.iter().all(|kind| kind.as_str().parse() == Ok(*kind)));
/// ```
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
///
/// The server records its own events. A host that changes what the provider keeps
/// through the [`Store`](super::Store) (registering an application, say) can put that
/// in the same log:
///
/// ```
/// use portcullis::store::{self, AuditFilter, AuditKind, NewAuditEvent, MAX_DETAIL};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
///
/// let now = 1_700_000_000;
/// let created = NewAuditEvent::new(AuditKind::ApplicationCreated, now)
///     .user(7)
///     .client("shop-front")
///     .addr(Some("192.0.2.7".parse()?))
///     // Said in words: never the client secret, not even hashed.
///     .detail("registered \"Shop\nfront\" (confidential) by the deploy script");
/// // A name someone typed cannot start a line of its own in a log.
/// assert_eq!(created.detail, "registered \"Shop front\" (confidential) by the deploy script");
/// let long = NewAuditEvent::new(AuditKind::ApplicationChanged, now).detail("x".repeat(1000));
/// assert_eq!(long.detail.len(), MAX_DETAIL);
///
/// store.record_audit_event(&created).await?;
/// let rotated = NewAuditEvent::new(AuditKind::KeyRotated, now + 60).detail("by the deploy script");
/// store.record_audit_events(&[long, rotated]).await?;
///
/// // Newest first; each as it was recorded, under an id of its own.
/// let listed = store.list_audit_events(&AuditFilter::default(), 10).await?;
/// let kinds: Vec<AuditKind> = listed.iter().map(|e| e.event.kind).collect();
/// assert_eq!(kinds, [AuditKind::KeyRotated, AuditKind::ApplicationChanged, AuditKind::ApplicationCreated]);
/// assert_eq!(listed[2].event, created);
/// assert!(listed[0].id > listed[1].id && listed[1].id > listed[2].id);
/// // User 7 does not exist (events outlive their users): no username to show.
/// assert_eq!(listed[2].username, None);
/// # Ok(())
/// # }
/// ```
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

/// A recorded event, as [`AuditLog::list_audit_events`] gives it.
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
///
/// ```
/// use portcullis::store::{self, AuditFilter, AuditKind, NewAuditEvent, NewUser};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// # let user = |username: &str| NewUser {
/// #     username: username.into(),
/// #     email: String::new(),
/// #     first_name: String::new(),
/// #     last_name: String::new(),
/// #     password_hash: None,
/// #     is_staff: false,
/// #     is_superuser: false,
/// #     date_joined: 1_700_000_000,
/// # };
/// let store = store::connect(&url).await?;
/// store.migrate().await?;
/// // `user` (hidden) fills in a NewUser with this username.
/// let ada = store.create_user(&user("ada")).await?;
/// let t = 1_700_000_000;
/// for minute in 0..5 {
///     let failed = NewAuditEvent::new(AuditKind::LoginFailed, t + minute * 60).user(ada.id);
///     store.record_audit_event(&failed.detail("login page: wrong username or password")).await?;
/// }
/// let issued = NewAuditEvent::new(AuditKind::TokenIssued, t + 300).user(ada.id).client("shop-front");
/// store.record_audit_event(&issued.detail("grant authorization_code, scope \"read\"")).await?;
///
/// // Ada's failed logins, two to a page, newest first: each page starts before the
/// // last event of the one before, as the admin page pages.
/// let mut filter =
///     AuditFilter { kind: Some(AuditKind::LoginFailed), user_id: Some(ada.id), ..AuditFilter::default() };
/// let mut pages = Vec::new();
/// loop {
///     let page = store.list_audit_events(&filter, 2).await?;
///     let Some(last) = page.last() else { break };
///     filter.before = Some(last.id);
///     pages.push(page.iter().map(|listed| listed.event.occurred_at - t).collect::<Vec<_>>());
/// }
/// assert_eq!(pages, [vec![240, 180], vec![120, 60], vec![0]]);
///
/// // An application's events, named by its exact client id.
/// let shop = AuditFilter { client_id: Some("shop-front".into()), ..AuditFilter::default() };
/// let listed = store.list_audit_events(&shop, 10).await?;
/// assert_eq!(listed.len(), 1);
/// assert_eq!((listed[0].event.kind, listed[0].username.as_deref()), (AuditKind::TokenIssued, Some("ada")));
/// let other = AuditFilter { client_id: Some("shop".into()), ..AuditFilter::default() };
/// assert!(store.list_audit_events(&other, 10).await?.is_empty());
/// # Ok(())
/// # }
/// ```
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

/// The audit log: appending events and reading them back, newest first.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends `events` in one statement. The server reaches this through
    /// [`Front`](super::front::Front), which writes them in the group commit beside new
    /// tokens. Nothing ever updates or deletes an event (clearing tokens leaves them).
    async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()>;
    /// [`AuditLog::record_audit_events`] for one event.
    async fn record_audit_event(&self, event: &NewAuditEvent) -> Result<()> {
        self.record_audit_events(std::slice::from_ref(event)).await
    }
    /// At most `limit` events that match `filter`, newest (highest id) first; the next
    /// page is the same filter with `before` the last id of this one.
    async fn list_audit_events(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>>;
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

/// Implements [`AuditLog`] for a backend (see the module documentation of `store`).
macro_rules! audit_log_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl AuditLog for $store {
            async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO audit_events (occurred_at, kind, user_id, client_id, client_addr, detail) ",
                );
                insert.push_values(events, |mut row, e| {
                    row.push_bind(e.occurred_at)
                        .push_bind(e.kind.as_str())
                        .push_bind(e.user_id)
                        .push_bind(e.client_id.as_deref())
                        .push_bind(e.client_addr.as_deref())
                        .push_bind(e.detail.as_str());
                });
                insert.build().execute(self.writer()).await?;
                Ok(())
            }

            async fn list_audit_events(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>> {
                // Only the conditions given, so that each filter is a statement of its
                // own whose plan uses that filter's index (a generic plan of
                // `$1 IS NULL OR kind = $1` would scan the whole log).
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT e.id, e.occurred_at, e.kind, e.user_id, e.client_id, e.client_addr, e.detail, u.username \
                     FROM audit_events e LEFT JOIN users u ON u.id = e.user_id WHERE TRUE",
                );
                if let Some(kind) = filter.kind {
                    query.push(" AND e.kind = ").push_bind(kind.as_str());
                }
                if let Some(user_id) = filter.user_id {
                    query.push(" AND e.user_id = ").push_bind(user_id);
                }
                if let Some(client_id) = &filter.client_id {
                    query.push(" AND e.client_id = ").push_bind(client_id.as_str());
                }
                if let Some(before) = filter.before {
                    query.push(" AND e.id < ").push_bind(before);
                }
                query.push(" ORDER BY e.id DESC LIMIT ").push_bind(limit);
                let rows: Vec<$crate::store::audit::AuditEventRow> =
                    query.build_query_as().fetch_all(self.reader()).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(super) use audit_log_sql;

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
