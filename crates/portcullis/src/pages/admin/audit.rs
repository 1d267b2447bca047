//! `/admin/audit/`: the security events, newest first, by kind, user and application.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{format_utc, search, text, with_query, AdminBase, Staff, PER_PAGE};
use crate::http::AppState;
use crate::pages::{render, with_id, Page, PageError, Query};
use crate::paths;
use crate::store::{AuditEvent, AuditFilter, AuditKind};

#[derive(Serialize)]
struct AuditRow {
    id: i64,
    occurred_at: String,
    kind: &'static str,
    user_id: Option<i64>,
    username: Option<String>,
    user_url: Option<String>,
    client_id: Option<String>,
    client_addr: Option<String>,
    detail: String,
}

impl From<AuditEvent> for AuditRow {
    fn from(AuditEvent { id, event, username }: AuditEvent) -> Self {
        Self {
            id,
            occurred_at: format_utc(event.occurred_at),
            kind: event.kind.as_str(),
            user_id: event.user_id,
            // A link only to a user who still exists.
            user_url: username.as_ref().and(event.user_id).map(|id| with_id(paths::ADMIN_USER, id)),
            username,
            client_id: event.client_id,
            client_addr: event.client_addr,
            detail: event.detail,
        }
    }
}

/// `admin/audit.html`: a page of events, the filters, and the links to older events
/// and back to the newest.
#[derive(Serialize)]
struct AuditPage<'a> {
    events: Vec<AuditRow>,
    /// Every event kind, for the filter.
    kinds: Vec<&'static str>,
    kind: &'a str,
    user: &'a str,
    app: &'a str,
    older: Option<String>,
    newest: Option<String>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for AuditPage<'_> {
    const TEMPLATE: &'static str = "admin/audit.html";
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    kind: Option<String>,
    /// An exact username.
    user: Option<String>,
    /// An exact client id.
    app: Option<String>,
    /// The id of the last event on the page before.
    before: Option<String>,
}

/// `GET /admin/audit/?kind=&user=&app=&before=`: security events, newest first, of one
/// kind, of the user with that exact username, of the application with that exact
/// client id. Pages go back in time by the last id shown (`before`), so events recorded
/// meanwhile never shift a page.
pub(super) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let kind = text(query.kind.as_deref());
    let (user, app) = (search(query.user.as_deref())?, search(query.app.as_deref())?);
    let bad = |what: &str| PageError::BadRequest(format!("The {what} in the address is not valid."));
    let parsed_kind = match kind {
        "" => None,
        name => Some(name.parse::<AuditKind>().map_err(|_| bad("event kind"))?),
    };
    let before = match text(query.before.as_deref()) {
        "" => None,
        text => Some(text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| bad("page"))?),
    };
    // A username that names nobody has no events.
    let user_id = match user {
        "" => None,
        name => Some(state.store.user_by_username(name).await?.map_or(0, |u| u.id)),
    };
    let filter =
        AuditFilter { kind: parsed_kind, user_id, client_id: (!app.is_empty()).then(|| app.to_owned()), before };
    // One more than shown, to know whether an older page exists.
    let mut events = state.store.list_audit_events(&filter, PER_PAGE + 1).await?;
    let older = (events.len() > usize::try_from(PER_PAGE).unwrap_or(usize::MAX)).then(|| {
        events.truncate(events.len() - 1);
        let last = events.last().map_or(0, |e| e.id).to_string();
        with_query(paths::ADMIN_AUDIT, &[("kind", kind), ("user", user), ("app", app), ("before", &last)])
    });
    let newest = before.map(|_| with_query(paths::ADMIN_AUDIT, &[("kind", kind), ("user", user), ("app", app)]));
    let page = AuditPage {
        events: events.into_iter().map(AuditRow::from).collect(),
        kinds: AuditKind::ALL.iter().map(|k| k.as_str()).collect(),
        kind,
        user,
        app,
        older,
        newest,
        admin: staff.base("audit"),
    };
    Ok(render(&state, &page)?.into_response())
}
