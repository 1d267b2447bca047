//! `GET` and `POST /o/device/`: where a logged-in user types the code a device shows,
//! sees which application asks for what, and answers (RFC 8628 §3.3). Wrong codes count
//! against the user like failed logins, so codes cannot be guessed here (§5.1).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::Uri;
use serde::{Deserialize, Serialize};

use super::{login_redirect, render, scope_views, session, Base, CsrfForm, Page, PageError, Query, ScopeView, Visitor};
use crate::http::edge::ClientAddr;
use crate::http::limits;
use crate::http::{route_both, AppState};
use crate::oauth::device::{self, display_user_code, normalize_user_code};
use crate::paths;
use crate::proto::Resources;
use crate::store::{AuditKind, NewAuditEvent};

pub fn router() -> Router<AppState> {
    route_both(Router::new(), paths::DEVICE, get(enter).post(answer))
}

/// `device.html`, at one of its steps: `enter` (the code), `confirm` (the question),
/// then `approved`, `denied` or `gone` (answered elsewhere, or expired).
#[derive(Serialize)]
struct DevicePage<'a> {
    step: &'static str,
    /// As typed, or as the device shows it once found.
    user_code: Option<&'a str>,
    error: Option<&'static str>,
    application: Option<&'a str>,
    scopes: Option<Vec<ScopeView>>,
    /// The APIs the tokens would work at (RFC 8707); empty: any.
    resources: Vec<String>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for DevicePage<'_> {
    const TEMPLATE: &'static str = "device.html";
}

#[derive(Deserialize)]
struct CodeQuery {
    user_code: Option<String>,
}

/// `GET /o/device/`: the form, with the code filled in from `verification_uri_complete`.
async fn enter(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Query(query): Query<CodeQuery>,
) -> Result<Response, PageError> {
    if visitor.user.is_none() {
        return Ok(login_redirect(uri.path_and_query().map(|p| p.as_str()).unwrap_or(paths::DEVICE)));
    }
    let (csrf, cookie) = session::csrf_for_page(&state, &visitor);
    let page = DevicePage {
        step: "enter",
        user_code: Some(query.user_code.as_deref().unwrap_or_default()),
        error: None,
        application: None,
        scopes: None,
        resources: Vec::new(),
        base: Base::new(&visitor, &csrf),
    };
    Ok(render(&state, &page)?.cookie(cookie).into_response())
}

#[derive(Deserialize)]
struct AnswerForm {
    user_code: String,
    allow: Option<String>,
    cancel: Option<String>,
}

/// `POST /o/device/`: first the code (then the question), then the answer.
async fn answer(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    CsrfForm(visitor, form): CsrfForm<AnswerForm>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(paths::DEVICE)) };
    let now = state.clock.now();
    // The attempt takes its place in the count before the code is looked up, so codes
    // sent at once cannot all be tried against the same count.
    let attempt = match limits::begin_device_code_attempt(state.store.as_ref(), user.id, now).await? {
        Ok(attempt) => attempt,
        Err(throttled) => {
            return Err(PageError::TooMany {
                message: "Too many wrong codes. Wait 15 minutes before trying again.".into(),
                retry_after: throttled.retry_after_seconds as i64,
            })
        }
    };
    let code = normalize_user_code(&form.user_code);
    let grant = match &code {
        Some(code) => state.store.device_grant_by_user_code(code).await?.filter(|g| device::is_open(g, now)),
        None => None,
    };
    let (Some(code), Some(grant)) = (code, grant) else {
        // The attempt's place stays: it is the wrong code.
        drop(attempt);
        tracing::info!(user_id = user.id, "device code refused");
        let page = DevicePage {
            step: "enter",
            user_code: Some(&form.user_code),
            error: Some("That code is not valid, or it has expired. Check the code on your device."),
            application: None,
            scopes: None,
            resources: Vec::new(),
            base: Base::of(&visitor),
        };
        return Ok(render(&state, &page)?.into_response());
    };
    limits::device_code_accepted(state.store.as_ref(), attempt).await?;
    let decision = match (form.allow.as_deref(), form.cancel.is_some()) {
        (Some("Authorize"), _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let Some(approve) = decision else {
        // The code is right: show what the device asks for (§5.4: "the authorization
        // server SHOULD display information about the device … so the user can confirm").
        let shown = display_user_code(&code);
        let page = DevicePage {
            step: "confirm",
            user_code: Some(&shown),
            error: None,
            application: Some(&grant.client_name),
            scopes: Some(scope_views(&state, device::scopes_of(&grant)?.iter())),
            resources: Resources::from_stored(&grant.resource).to_vec(),
            base: Base::of(&visitor),
        };
        return Ok(render(&state, &page)?.into_response());
    };
    // The grant may have expired or been answered elsewhere since the question.
    let decided = state.store.decide_device_grant(grant.id, user.id, approve, now).await?;
    tracing::info!(user_id = user.id, client_id = %grant.client_id, approve, decided, "device grant answered");
    if decided {
        let kind = if approve { AuditKind::ConsentGranted } else { AuditKind::ConsentDenied };
        let event = NewAuditEvent::new(kind, now).user(user.id).client(&grant.client_id).addr(address);
        state.audit.record(event.detail(format!("device page: scope \"{}\"", grant.scope))).await;
    }
    let step = match (decided, approve) {
        (true, true) => "approved",
        (true, false) => "denied",
        (false, _) => "gone",
    };
    let page = DevicePage {
        step,
        user_code: None,
        error: None,
        application: Some(&grant.client_name),
        scopes: None,
        resources: Vec::new(),
        base: Base::of(&visitor),
    };
    Ok(render(&state, &page)?.into_response())
}
