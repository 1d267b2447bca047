//! The audit log of security events: logins and their failures, consents, tokens
//! issued and revoked, replays caught, and changes made by staff, owners and the
//! command line. Each event goes to the database (`audit_events`, shown at
//! `/admin/audit/`) and to the structured log, at INFO on the target
//! `portcullis::audit`, with the same fields, so an operator can ship the log without
//! the database or filter it out (`RUST_LOG=info,portcullis::audit=warn`).
//!
//! An event holds who acted, the client id, the request's address and a short detail
//! in words. It never holds a password, secret, code or token, not even hashed: the
//! types have no field for one, and callers describe (the grant, the scope, what
//! changed) instead of quoting.
//!
//! Events are recorded after what they describe has happened. Storing one that fails
//! is logged as an error and not passed on: the action is done by then, and refusing
//! to answer for it would turn a full disk into an outage of logins.

use std::sync::Arc;

use crate::store::{NewAuditEvent, Store};

/// The target of the audit log's tracing events.
pub const TARGET: &str = "portcullis::audit";

/// Records events: cheap to clone, one per server (see [`AppState`](crate::app::AppState)).
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
}

impl Audit {
    /// Records into `store`; with the server's [`Front`](crate::store::front::Front),
    /// events are written in its group commit.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Logs the event and stores it, returning once it is committed.
    pub async fn record(&self, event: NewAuditEvent) {
        log(&event);
        if let Err(error) = self.store.record_audit_event(&event).await {
            failed(&event, &error);
        }
    }

    /// Logs the event now and stores it in the background, for the token endpoint: its
    /// answer does not wait for the event's commit (the event joins the next group
    /// commit). An event still queued when the process stops is lost from the table,
    /// not from the log.
    pub fn record_soon(&self, event: NewAuditEvent) {
        log(&event);
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.record_audit_event(&event).await {
                failed(&event, &error);
            }
        });
    }
}

/// The structured log's copy of an event.
fn log(event: &NewAuditEvent) {
    tracing::info!(
        target: TARGET,
        kind = event.kind.as_str(),
        user_id = event.user_id,
        client_id = event.client_id.as_deref(),
        client_addr = event.client_addr.as_deref(),
        detail = event.detail.as_str(),
        "audit event"
    );
}

fn failed(event: &NewAuditEvent, error: &crate::store::StoreError) {
    tracing::error!(target: TARGET, kind = event.kind.as_str(), %error, "audit event not stored");
}
