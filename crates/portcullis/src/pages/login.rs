//! `/accounts/login/` and `/accounts/logout/`, with throttling of failed logins by
//! account and by address.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{redirect, render, safe_next, session, Base, CsrfForm, Page, PageError, Query, Visitor};
use crate::http::edge::ClientAddr;
use crate::http::limits::LoginThrottle;
use crate::http::{route_both, AppState};
use crate::paths;
use crate::store::{AuditKind, NewAuditEvent, User};

/// Where a login goes when `next` names nowhere (safe).
pub const DEFAULT_NEXT: &str = "/o/applications/";

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::LOGIN, get(login_page).post(login));
    route_both(router, paths::LOGOUT, post(logout))
}

/// `login.html`: the form, empty or sent back with `error`.
#[derive(Serialize)]
struct LoginPage<'a> {
    /// Where a successful login goes (a path on this site).
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for LoginPage<'_> {
    const TEMPLATE: &'static str = "login.html";
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// Show the form to a logged-in user too: the authorization endpoint asks for a
    /// fresh login (`prompt=login`, `max_age`). Logging in replaces the session.
    again: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(query.next.as_deref()).unwrap_or(DEFAULT_NEXT);
    if visitor.user.is_some() && query.again.as_deref() != Some("1") {
        return Ok(redirect(StatusCode::FOUND, next, None));
    }
    let (csrf, cookie) = session::csrf_for_page(&state, &visitor);
    let page = LoginPage { next, username: "", error: None, base: Base::new(&visitor, &csrf) };
    Ok(render(&state, &page)?.cookie(cookie).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    CsrfForm(visitor, form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    // No username has a control character; a NUL would also fail every query on
    // PostgreSQL (its text cannot hold one), throttling's included: refuse it first.
    if form.username.chars().any(|c| c.is_ascii_control()) {
        return Err(PageError::BadRequest("A username has no control characters.".into()));
    }
    let now = state.clock.now();
    let throttle = LoginThrottle::new(state.store.as_ref(), &state.config.limits, now, &form.username, client.ip);
    // The account tried, when it exists: the audit log names accounts by id, never by
    // what was typed (a password typed into the username field must not reach it).
    let tried = || async { state.store.user_by_username(&form.username).await.map(|u| u.map(|u| u.id)) };
    let attempt = match throttle.begin().await? {
        Ok(attempt) => attempt,
        Err(throttled) => {
            let event = NewAuditEvent::new(AuditKind::LoginThrottled, now).user(tried().await?).addr(client.ip);
            state.audit.record(event.detail("too many failed logins for this account or address")).await;
            let minutes = throttled.retry_after_seconds.div_ceil(60);
            return Err(PageError::TooMany {
                message: format!("Too many failed logins. Wait {minutes} minutes before trying again."),
                retry_after: throttled.retry_after_seconds as i64,
            });
        }
    };
    let user = state.accounts.authenticate(&form.username, &form.password).await?.map(User::from);
    let next = safe_next(form.next.as_deref()).unwrap_or(DEFAULT_NEXT);
    let Some(user) = user else {
        // The attempt's place in the count stays: it is the failure.
        drop(attempt);
        tracing::info!("login failed");
        let event = NewAuditEvent::new(AuditKind::LoginFailed, now).user(tried().await?).addr(client.ip);
        state.audit.record(event.detail("login page: wrong username or password")).await;
        let page = LoginPage {
            next,
            username: &form.username,
            error: Some("Please enter a correct username and password. Both fields are case-sensitive."),
            base: Base::of(&visitor),
        };
        return Ok(render(&state, &page)?.into_response());
    };
    throttle.succeeded(attempt).await?;
    state.store.set_last_login(user.id, now).await?;
    // A new session id at login, so an id planted before login is worth nothing
    // (session fixation).
    if let Some((old, _)) = &visitor.session {
        state.store.delete_session(old).await?;
    }
    let (_, cookie) = session::start(&state, &user).await?;
    tracing::info!(user_id = user.id, "login");
    let event = NewAuditEvent::new(AuditKind::LoginSucceeded, now).user(user.id).addr(client.ip);
    state.audit.record(event.detail("login page")).await;
    Ok(redirect(StatusCode::SEE_OTHER, next, Some(cookie)))
}

async fn logout(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    CsrfForm(visitor, _): CsrfForm,
) -> Result<Response, PageError> {
    if let Some((id, _)) = &visitor.session {
        state.store.delete_session(id).await?;
        // An anonymous session (the login form's) ending is nobody logging out.
        if let Some(user) = &visitor.user {
            let event = NewAuditEvent::new(AuditKind::Logout, state.clock.now()).user(user.id).addr(address);
            state.audit.record(event.detail("logout button")).await;
        }
    }
    Ok(redirect(StatusCode::SEE_OTHER, paths::LOGIN, Some(session::clear(&state))))
}
