//! `/accounts/login/` and `/accounts/logout/`, with throttling of failed logins by
//! account and by address.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::StatusCode;
use minijinja::context;
use serde::Deserialize;

use super::session::ClientAddr;
use super::{base_context, redirect, render, safe_next, session, PageError, Visitor};
use crate::app::{paths, route_both, AppState};
use crate::store::User;

/// Where a login goes when `next` names nowhere (safe).
pub const DEFAULT_NEXT: &str = "/o/applications/";
/// Failed logins allowed per account, and per address, in [`WINDOW_SECONDS`].
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 20;
const WINDOW_SECONDS: i64 = 15 * 60;

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::LOGIN, get(login_page).post(login));
    route_both(router, paths::LOGOUT, post(logout))
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
    let (csrf, cookie) = session::csrf_for_page(&state, &visitor).await?;
    let mut page = render(
        &state,
        "login.html",
        StatusCode::OK,
        context! { next => next, username => "", error => (), ..base_context(&visitor, &csrf) },
    )?;
    page.set_cookie = cookie;
    Ok(page.into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf_token: Option<String>,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr(address): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_ok(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    // No username has a control character; a NUL would also fail every query on
    // PostgreSQL (its text cannot hold one), throttling's included: refuse it first.
    if form.username.chars().any(|c| c.is_ascii_control()) {
        return Err(PageError::BadRequest("A username has no control characters.".into()));
    }
    let now = state.clock.now();
    let account_key = format!("user:{}", form.username);
    let address_key = format!("addr:{}", address.map(|a| a.to_string()).unwrap_or_default());
    let since = now - WINDOW_SECONDS;
    if state.store.login_failures(&account_key, since).await? >= MAX_FAILURES_PER_ACCOUNT
        || state.store.login_failures(&address_key, since).await? >= MAX_FAILURES_PER_ADDRESS
    {
        return Err(PageError::TooMany {
            message: "Too many failed logins. Wait 15 minutes before trying again.".into(),
            retry_after: WINDOW_SECONDS,
        });
    }
    let user = state.accounts.authenticate(&form.username, &form.password).await?.map(User::from);
    let next = safe_next(form.next.as_deref()).unwrap_or(DEFAULT_NEXT);
    let Some(user) = user else {
        state.store.record_login_failure(&[account_key, address_key], now).await?;
        tracing::info!("login failed");
        let csrf = visitor.csrf_token().unwrap_or_default();
        let page = render(
            &state,
            "login.html",
            StatusCode::OK,
            context! {
                next => next,
                username => form.username,
                error => "Please enter a correct username and password. Both fields are case-sensitive.",
                ..base_context(&visitor, csrf)
            },
        )?;
        return Ok(page.into_response());
    };
    state.store.clear_login_failures(&account_key).await?;
    state.store.set_last_login(user.id, now).await?;
    // A new session id at login, so an id planted before login is worth nothing
    // (session fixation).
    if let Some((old, _)) = &visitor.session {
        state.store.delete_session(old).await?;
    }
    let (_, cookie) = session::start(&state, Some(&user)).await?;
    tracing::info!(user_id = user.id, "login");
    Ok(redirect(StatusCode::SEE_OTHER, next, Some(cookie)))
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf_token: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_ok(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    if let Some((id, _)) = &visitor.session {
        state.store.delete_session(id).await?;
    }
    Ok(redirect(StatusCode::SEE_OTHER, paths::LOGIN, Some(session::clear(&state))))
}
