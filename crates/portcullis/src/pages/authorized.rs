//! `/o/authorized_tokens/`: the applications the user has let act for them, and taking
//! that back (RFC 6749 §1.5's promise): revoking an application's access ends every
//! token of the user's it holds and forgets the consent, so it must ask again.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{StatusCode, Uri};
use minijinja::context;
use serde::Serialize;

use super::applications::ScopeView;
use super::applications::{done, here, parse_id, scope_views, with_id, FormBody};
use super::{base_context, login_redirect, redirect, render, PageError, Visitor};
use super::{date_view, DateView};
use crate::http::edge::ClientAddr;
use crate::http::{route_both, AppState};
use crate::paths;
use crate::store::{AuditKind, NewAuditEvent};

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::AUTHORIZED_TOKENS, get(list));
    route_both(router, paths::AUTHORIZED_TOKEN_DELETE, post(revoke))
}

#[derive(Serialize)]
struct GrantView {
    application_id: i64,
    name: String,
    scopes: Vec<ScopeView>,
    first_granted: DateView,
    last_granted: DateView,
    revoke_url: String,
}

/// `GET /o/authorized_tokens/`
async fn list(State(state): State<AppState>, visitor: Visitor, uri: Uri) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let authorized = state.store.authorized_applications(user.id, state.clock.now()).await?;
    let grants: Vec<GrantView> = authorized
        .iter()
        .map(|a| GrantView {
            application_id: a.application_id,
            name: a.name.clone(),
            scopes: scope_views(&state, a.scope.iter()),
            first_granted: date_view(a.first_granted_at),
            last_granted: date_view(a.last_granted_at),
            revoke_url: with_id(paths::AUTHORIZED_TOKEN_DELETE, a.application_id),
        })
        .collect();
    let notice = match done(&uri).as_deref() {
        Some("revoked") => Some(
            "Access revoked. The application's tokens no longer work, and it must ask you again before it can \
             use your account.",
        ),
        _ => None,
    };
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        &state,
        "authorized-tokens.html",
        StatusCode::OK,
        context! { grants => grants, notice => notice, ..base_context(&visitor, csrf) },
    )?;
    Ok(page.into_response())
}

/// `POST /o/authorized_tokens/{id}/delete/`, `{id}` the application's: revokes the
/// user's access and refresh tokens for it and deletes their consent. Revoking what is
/// not there changes nothing and answers the same, so the answer tells nothing about
/// other people's applications.
async fn revoke(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormBody::parse(&body);
    if !visitor.csrf_ok(form.csrf_token()) {
        return Err(PageError::Csrf);
    }
    let Some(user) = &visitor.user else { return Ok(login_redirect(paths::AUTHORIZED_TOKENS)) };
    let application_id = parse_id(&id)?;
    let now = state.clock.now();
    let taken = state.store.revoke_user_grants(user.id, application_id, now).await?;
    tracing::info!(user_id = user.id, application_id, taken, "access revoked by the user");
    if taken > 0 {
        // Only once something was taken back; the id names an application, which
        // exists then.
        let mut event = NewAuditEvent::new(AuditKind::TokenRevoked, now).user(user.id).addr(address);
        if let Some(app) = state.store.application_by_id(application_id).await? {
            event = event.client(&app.client_id);
        }
        let detail = format!("authorized applications page: the user took back access ({taken} tokens and consents)");
        state.audit.record(event.detail(detail)).await;
    }
    Ok(redirect(StatusCode::SEE_OTHER, &format!("{}?done=revoked", paths::AUTHORIZED_TOKENS), None))
}
