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
pub(crate) const TARGET: &str = "portcullis::audit";

/// Records events: cheap to clone, one per server (see [`AppState`](crate::http::AppState)).
///
/// The provider's pages, endpoints and command line record through it; a host reads
/// the events with
/// [`AuditLog::list_audit_events`](crate::store::AuditLog::list_audit_events), and
/// adds its own with
/// [`AuditLog::record_audit_event`](crate::store::AuditLog::record_audit_event). Here
/// a password grant with a wrong password, on a connection from `192.0.2.7`:
///
/// ```
/// use std::sync::Arc;
///
/// use axum::body::Body;
/// use http::{Request, StatusCode};
/// use portcullis::http::{router, AppState};
/// use portcullis::clock::SystemClock;
/// use portcullis::config::Config;
/// use portcullis::http::edge::Connection;
/// use portcullis::store::{AuditFilter, AuditKind};
/// use tower::ServiceExt as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let mut config = Config::defaults();
/// config.oidc.enabled = false; // no signing keys to make for this example
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// # use portcullis::proto::{ClientType, GrantType};
/// # let cli = portcullis::store::ApplicationSettings {
/// #     name: "Command line".into(),
/// #     client_type: ClientType::Public,
/// #     grant_types: vec![GrantType::Password],
/// #     ..Default::default()
/// # };
/// # store.create_application("cli", None, None, &cli, 1_700_000_000).await?;
/// // (Hidden: a public application "cli" that may use the password grant.)
/// let router: axum::Router = router(AppState::new(store.clone(), config, Arc::new(SystemClock))?);
///
/// let mut request = Request::post("/o/token/")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(Body::from("grant_type=password&client_id=cli&username=ada&password=hunter2"))?;
/// // The connection the request came on, as the server's accept loop records it.
/// request.extensions_mut().insert(Connection { peer: "192.0.2.7:50123".parse()?, tls: true });
/// let response = router.oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::BAD_REQUEST); // invalid_grant, RFC 6749 §5.2
///
/// let events = store.list_audit_events(&AuditFilter::default(), 10).await?;
/// assert_eq!(events.len(), 1);
/// let failed = &events[0].event;
/// assert_eq!(failed.kind, AuditKind::LoginFailed);
/// assert_eq!((failed.client_id.as_deref(), failed.client_addr.as_deref()), (Some("cli"), Some("192.0.2.7")));
/// assert_eq!(failed.user_id, None, "no account is named ada");
/// // What happened, in words: not the password that was tried.
/// assert_eq!(failed.detail, "password grant: wrong username or password");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
}

impl Audit {
    /// Records into `store`; with the server's [`Front`](crate::store::front::Front),
    /// events are written in its group commit.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Logs the event and stores it, returning once it is committed.
    pub(crate) async fn record(&self, event: NewAuditEvent) {
        log(&event);
        if let Err(error) = self.store.record_audit_event(&event).await {
            failed(&event, &error);
        }
    }

    /// Logs the event now and stores it in the background, for the token endpoint: its
    /// answer does not wait for the event's commit (the event joins the next group
    /// commit). An event still queued when the process stops is lost from the table,
    /// not from the log.
    pub(crate) fn record_soon(&self, event: NewAuditEvent) {
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
