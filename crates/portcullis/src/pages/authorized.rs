//! `/o/authorized_tokens/`: the applications the user has let act for them, and taking
//! that back (RFC 6749 §1.5's promise): revoking an application's access ends every
//! token of the user's it holds and forgets the consent, so it must ask again.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{StatusCode, Uri};
use serde::Serialize;

use super::{date_view, here, login_redirect, parse_id, redirect, render, scope_views, with_id};
use super::{Base, CsrfForm, DateView, Done, Page, PageError, Query, ScopeView, Visitor};
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

/// `authorized-tokens.html`: the applications the user has let act for them.
#[derive(Serialize)]
struct AuthorizedPage<'a> {
    grants: Vec<GrantView>,
    notice: Option<&'static str>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for AuthorizedPage<'_> {
    const TEMPLATE: &'static str = "authorized-tokens.html";
}

/// `GET /o/authorized_tokens/`
async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Query(query): Query<Done>,
) -> Result<Response, PageError> {
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
    let notice = match query.done.as_deref() {
        Some("revoked") => Some(
            "Access revoked. The application's tokens no longer work, and it must ask you again before it can \
             use your account.",
        ),
        _ => None,
    };
    Ok(render(&state, &AuthorizedPage { grants, notice, base: Base::of(&visitor) })?.into_response())
}

/// `POST /o/authorized_tokens/{id}/delete/`, `{id}` the application's: revokes the
/// user's access and refresh tokens for it and deletes their consent. Revoking what is
/// not there changes nothing and answers the same, so the answer tells nothing about
/// other people's applications.
async fn revoke(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(visitor, _): CsrfForm,
) -> Result<Response, PageError> {
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
