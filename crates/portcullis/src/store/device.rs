//! The device authorization grant (RFC 8628): requests, the user's answer, and the
//! device's polls, whose rule is [`poll_verdict`], applied by the store with the
//! grant's row locked.

use async_trait::async_trait;

use super::{NewTokens, Result, StoreError};
use crate::crypto::TokenHash;
use crate::proto::DeviceStatus;

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
    /// The resources asked for (RFC 8707), space-separated; empty: none.
    pub resource: String,
    /// How long the device must wait between polls (RFC 8628 §3.5).
    pub interval_seconds: i64,
    /// When the request was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When the codes stop working (RFC 8628 §3.2 `expires_in`).
    pub expires_at: i64,
}

/// A stored device authorization request, with its client's id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The resources asked for (RFC 8707), space-separated; empty: none.
    pub resource: String,
    /// Whether the user has answered, and how.
    pub status: DeviceStatus,
    /// Whether the device has collected the tokens of an approved grant: then the grant
    /// is used up.
    pub collected: bool,
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

/// Device grants: the request, the user's answer, the device's polls.
#[async_trait]
pub trait DeviceGrants: Send + Sync + 'static {
    /// Stores a device authorization request (RFC 8628 §3.1).
    /// [`StoreError::Conflict`] if the user code is taken.
    async fn insert_device_grant(&self, grant: &NewDeviceGrant) -> Result<()>;
    /// The request with this user code (normalised), in any state.
    async fn device_grant_by_user_code(&self, user_code: &str) -> Result<Option<DeviceGrantRecord>>;
    /// The request with this device code hash, in any state.
    async fn device_grant_by_code(&self, device_code: &TokenHash) -> Result<Option<DeviceGrantRecord>>;
    /// The user's answer: approves (for `user_id`) or denies a grant that is still
    /// pending and unexpired at `now`; `false` if it was not.
    async fn decide_device_grant(&self, id: i64, user_id: i64, approve: bool, now: i64) -> Result<bool>;
    /// One poll by the device, in one transaction with the grant's row locked: enforces
    /// the interval (RFC 8628 §3.5 `slow_down`), and for an approved grant stores
    /// `tokens` and marks the grant used, so exactly one poll gets them. `tokens` must
    /// have been minted for the approving user; tokens minted for anyone else are not
    /// stored and the answer is `Pending`.
    async fn poll_device_grant(&self, id: i64, now: i64, tokens: &NewTokens) -> Result<DevicePoll>;
}

#[async_trait]
impl<L: super::PassThrough<dyn DeviceGrants>> DeviceGrants for L {
    async fn insert_device_grant(&self, grant: &NewDeviceGrant) -> Result<()> {
        self.inner().insert_device_grant(grant).await
    }
    async fn device_grant_by_user_code(&self, user_code: &str) -> Result<Option<DeviceGrantRecord>> {
        self.inner().device_grant_by_user_code(user_code).await
    }
    async fn device_grant_by_code(&self, device_code: &TokenHash) -> Result<Option<DeviceGrantRecord>> {
        self.inner().device_grant_by_code(device_code).await
    }
    async fn decide_device_grant(&self, id: i64, user_id: i64, approve: bool, now: i64) -> Result<bool> {
        self.inner().decide_device_grant(id, user_id, approve, now).await
    }
    async fn poll_device_grant(&self, id: i64, now: i64, tokens: &NewTokens) -> Result<DevicePoll> {
        self.inner().poll_device_grant(id, now, tokens).await
    }
}

/// What a poll of `grant` at `now` gets, when the tokens ready for it were minted for
/// `minted_for` (the approving user, as the token endpoint saw the grant before the
/// poll). [`DevicePoll::Issued`] means: store the tokens and use the grant up.
pub(crate) fn poll_verdict(grant: &DeviceGrantRecord, now: i64, minted_for: Option<i64>) -> DevicePoll {
    if grant.collected {
        return DevicePoll::Gone;
    }
    if now >= grant.expires_at {
        return DevicePoll::Expired;
    }
    if grant.last_polled_at.is_some_and(|at| now - at < grant.interval_seconds) {
        return DevicePoll::SlowDown;
    }
    match (grant.status, grant.user_id) {
        // Only tokens minted for the approving user: a JWT names its user in a
        // signature, so the store cannot change it afterwards. Tokens minted before the
        // approval was seen are dropped, and the device gets them at its next poll.
        (DeviceStatus::Approved, Some(user_id)) if minted_for == Some(user_id) => DevicePoll::Issued,
        (DeviceStatus::Denied, _) => DevicePoll::Denied,
        _ => DevicePoll::Pending,
    }
}

/// How a grant whose tokens were collected is stored: `status` is text, and this is
/// the one value besides [`DeviceStatus`]'s.
pub(super) const COLLECTED: &str = "used";

/// A `device_grants` row joined with its application, before `status` is parsed.
#[derive(sqlx::FromRow)]
pub(super) struct DeviceGrantRow {
    id: i64,
    application_id: i64,
    client_id: String,
    client_name: String,
    scope: String,
    resource: String,
    status: String,
    user_id: Option<i64>,
    interval_seconds: i64,
    last_polled_at: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<DeviceGrantRow> for DeviceGrantRecord {
    type Error = StoreError;

    fn try_from(row: DeviceGrantRow) -> Result<Self, StoreError> {
        let (status, collected) = match row.status.as_str() {
            COLLECTED => (DeviceStatus::Approved, true),
            other => (other.parse().map_err(|e| StoreError::Corrupt(format!("device grant {}: {e}", row.id)))?, false),
        };
        Ok(Self {
            id: row.id,
            application_id: row.application_id,
            client_id: row.client_id,
            client_name: row.client_name,
            scope: row.scope,
            resource: row.resource,
            status,
            collected,
            user_id: row.user_id,
            interval_seconds: row.interval_seconds,
            last_polled_at: row.last_polled_at,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// The columns of a [`DeviceGrantRow`], for a `WHERE` clause on `g` to follow.
macro_rules! device_grant_select {
    () => {
        "SELECT g.id, g.application_id, a.client_id, a.name AS client_name, g.scope, g.resource, g.status, g.user_id, \
                g.interval_seconds, g.last_polled_at, g.created_at, g.expires_at \
         FROM device_grants g JOIN applications a ON a.id = g.application_id"
    };
}

/// Implements [`DeviceGrants`] for a backend (see the module documentation of `store`).
macro_rules! device_grants_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl DeviceGrants for $store {
            async fn insert_device_grant(&self, g: &NewDeviceGrant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO device_grants (device_code_hash, user_code, application_id, scope, interval_seconds, \
                       created_at, expires_at, resource) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(g.device_code_hash.as_bytes())
                .bind(&g.user_code)
                .bind(g.application_id)
                .bind(&g.scope)
                .bind(g.interval_seconds)
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(&g.resource)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "a device grant with that code"))?;
                Ok(())
            }

            async fn device_grant_by_user_code(&self, user_code: &str) -> Result<Option<DeviceGrantRecord>> {
                let row: Option<$crate::store::device::DeviceGrantRow> =
                    sqlx::query_as(concat!($crate::store::device::device_grant_select!(), " WHERE g.user_code = $1"))
                        .bind(user_code)
                        .fetch_optional(self.reader())
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn device_grant_by_code(&self, device_code: &TokenHash) -> Result<Option<DeviceGrantRecord>> {
                let row: Option<$crate::store::device::DeviceGrantRow> = sqlx::query_as(concat!(
                    $crate::store::device::device_grant_select!(),
                    " WHERE g.device_code_hash = $1"
                ))
                .bind(device_code.as_bytes())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn decide_device_grant(&self, id: i64, user_id: i64, approve: bool, now: i64) -> Result<bool> {
                let changed = sqlx::query(
                    "UPDATE device_grants SET status = $2, user_id = $3 WHERE id = $1 AND status = $5 AND expires_at > $4",
                )
                .bind(id)
                .bind($crate::proto::DeviceStatus::decided(approve).as_str())
                .bind(user_id)
                .bind(now)
                .bind($crate::proto::DeviceStatus::Pending.as_str())
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn poll_device_grant(&self, id: i64, now: i64, tokens: &NewTokens) -> Result<DevicePoll> {
                let mut tx = self.writer().begin().await?;
                // Take the row lock first, so concurrent polls run one after another.
                sqlx::query("UPDATE device_grants SET last_polled_at = last_polled_at WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row: Option<$crate::store::device::DeviceGrantRow> =
                    sqlx::query_as(concat!($crate::store::device::device_grant_select!(), " WHERE g.id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(grant) = row.map(DeviceGrantRecord::try_from).transpose()? else {
                    return Ok(DevicePoll::Gone);
                };
                let verdict = $crate::store::device::poll_verdict(&grant, now, tokens.user_id);
                match verdict {
                    // Nothing to record: the transaction rolls back.
                    DevicePoll::Gone | DevicePoll::Expired => return Ok(verdict),
                    // RFC 8628 §3.5 slow_down: "the interval MUST be increased by 5
                    // seconds for this and all subsequent requests."
                    DevicePoll::SlowDown => {
                        sqlx::query(
                            "UPDATE device_grants SET interval_seconds = interval_seconds + 5, last_polled_at = $2 \
                             WHERE id = $1",
                        )
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    DevicePoll::Issued => {
                        sqlx::query("UPDATE device_grants SET status = $3, last_polled_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(now)
                            .bind($crate::store::device::COLLECTED)
                            .execute(&mut *tx)
                            .await?;
                        Self::write_tokens(&mut tx, std::slice::from_ref(tokens), None).await?;
                    }
                    DevicePoll::Denied | DevicePoll::Pending => {
                        sqlx::query("UPDATE device_grants SET last_polled_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(verdict)
            }
        }
    };
}

pub(super) use {device_grant_select, device_grants_sql};

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn grant(status: DeviceStatus, user_id: Option<i64>, last_polled_at: Option<i64>) -> DeviceGrantRecord {
        DeviceGrantRecord {
            id: 1,
            application_id: 1,
            client_id: "tv".into(),
            client_name: "TV".into(),
            scope: "read".into(),
            resource: String::new(),
            status,
            collected: false,
            user_id,
            interval_seconds: 5,
            last_polled_at,
            created_at: NOW - 60,
            expires_at: NOW + 600,
        }
    }

    /// §3.5: "authorization_pending: The authorization request is still pending as the
    /// end user hasn't yet completed the user-interaction steps".
    #[test]
    fn an_unanswered_grant_is_pending() {
        assert_eq!(poll_verdict(&grant(DeviceStatus::Pending, None, None), NOW, None), DevicePoll::Pending);
        assert_eq!(poll_verdict(&grant(DeviceStatus::Pending, None, Some(NOW - 5)), NOW, None), DevicePoll::Pending);
    }

    /// §3.5: "slow_down: A variant of "authorization_pending", the authorization
    /// request is still pending and polling should continue, but the interval MUST be
    /// increased by 5 seconds for this and all subsequent requests." Any answer waits
    /// for the interval, an approval included.
    #[test]
    fn polling_within_the_interval_is_slow_down() {
        assert_eq!(poll_verdict(&grant(DeviceStatus::Pending, None, Some(NOW - 4)), NOW, None), DevicePoll::SlowDown);
        let approved = grant(DeviceStatus::Approved, Some(7), Some(NOW - 4));
        assert_eq!(poll_verdict(&approved, NOW, Some(7)), DevicePoll::SlowDown);
        let slower = DeviceGrantRecord { interval_seconds: 10, ..grant(DeviceStatus::Pending, None, Some(NOW - 9)) };
        assert_eq!(poll_verdict(&slower, NOW, None), DevicePoll::SlowDown, "the interval grown by earlier slow_downs");
    }

    /// §3.5: "access_denied: The authorization request was denied." and
    /// "expired_token: The "device_code" has expired, and the device authorization
    /// session has concluded." Expiry comes first: an answer does not outlive it.
    #[test]
    fn denied_and_expired() {
        assert_eq!(poll_verdict(&grant(DeviceStatus::Denied, Some(7), None), NOW, None), DevicePoll::Denied);
        let late = DeviceGrantRecord { expires_at: NOW, ..grant(DeviceStatus::Approved, Some(7), None) };
        assert_eq!(poll_verdict(&late, NOW, Some(7)), DevicePoll::Expired);
        let late_and_fast = DeviceGrantRecord { expires_at: NOW, ..grant(DeviceStatus::Pending, None, Some(NOW)) };
        assert_eq!(poll_verdict(&late_and_fast, NOW, None), DevicePoll::Expired);
    }

    /// An approved grant issues once, to the approving user's tokens; then it is used
    /// up, and a device code, like an authorization code, buys tokens once.
    #[test]
    fn an_approved_grant_issues_once_for_the_approving_user() {
        let approved = grant(DeviceStatus::Approved, Some(7), Some(NOW - 5));
        assert_eq!(poll_verdict(&approved, NOW, Some(7)), DevicePoll::Issued);
        assert_eq!(poll_verdict(&approved, NOW, None), DevicePoll::Pending, "minted before the approval was seen");
        assert_eq!(poll_verdict(&approved, NOW, Some(8)), DevicePoll::Pending, "minted for someone else");
        let collected = DeviceGrantRecord { collected: true, ..approved };
        assert_eq!(poll_verdict(&collected, NOW, Some(7)), DevicePoll::Gone);
        let collected_and_expired = DeviceGrantRecord { expires_at: NOW, ..collected };
        assert_eq!(poll_verdict(&collected_and_expired, NOW, Some(7)), DevicePoll::Gone);
    }

    #[test]
    fn stored_statuses_parse_and_a_collected_grant_is_approved() {
        let row = |status: &str| DeviceGrantRow {
            id: 1,
            application_id: 1,
            client_id: "tv".into(),
            client_name: "TV".into(),
            scope: "read".into(),
            resource: String::new(),
            status: status.into(),
            user_id: Some(7),
            interval_seconds: 5,
            last_polled_at: None,
            created_at: 0,
            expires_at: 600,
        };
        let parsed = |status: &str| DeviceGrantRecord::try_from(row(status)).map(|g| (g.status, g.collected)).ok();
        assert_eq!(parsed("pending"), Some((DeviceStatus::Pending, false)));
        assert_eq!(parsed("approved"), Some((DeviceStatus::Approved, false)));
        assert_eq!(parsed("denied"), Some((DeviceStatus::Denied, false)));
        assert_eq!(parsed(COLLECTED), Some((DeviceStatus::Approved, true)));
        assert_eq!(parsed("Pending"), None);
    }
}
