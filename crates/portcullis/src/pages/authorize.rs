//! `GET` and `POST /o/authorize/`: the authorization endpoint as the browser sees it.
//! The rules are in `oauth::authorize`; this module does sessions, pages and redirects.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{StatusCode, Uri};
use serde::Serialize;

use super::{login_again_redirect, login_redirect, redirect, render, scope_views};
use super::{Base, CsrfForm, Page, PageError, ScopeView, Visitor};
use crate::http::edge::ClientAddr;
use crate::http::{route_both, AppState};
use crate::oauth::authorize::{self, AuthorizationRequest, AuthorizeError, ErrorCode, NextStep, SessionFacts};
use crate::oauth::{OAuthError, Params};
use crate::paths;
use crate::store::AuditKind;

pub fn router() -> Router<AppState> {
    route_both(Router::new(), paths::AUTHORIZE, get(show).post(answer))
}

/// `authorize.html`: the consent page.
#[derive(Serialize)]
struct ConsentPage<'a> {
    application: Named<'a>,
    scopes: Vec<ScopeView>,
    /// The APIs the tokens will work at (RFC 8707 `resource`); empty: not bound to any.
    resources: Vec<String>,
    /// The authorization request, carried back by the form's hidden fields.
    fields: Vec<(&'static str, String)>,
    /// Where the answer goes: the redirect URI's host (or scheme, for an app's own).
    redirect_host: String,
    #[serde(flatten)]
    base: Base<'a>,
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
}

impl Page for ConsentPage<'_> {
    const TEMPLATE: &'static str = "authorize.html";
}

async fn request(state: &AppState, params: Result<Params, OAuthError>) -> Result<AuthorizationRequest, Response> {
    let app = match params.as_ref().ok().and_then(|p| p.get("client_id")) {
        Some(client_id) => {
            state.store.application_by_client_id(client_id).await.map_err(|e| PageError::from(e).into_response())?
        }
        None => None,
    };
    authorize::validate(params, app, &state.grant_context()).map_err(|error| match error {
        AuthorizeError::Page(message) => {
            tracing::info!(%message, "authorization request refused");
            PageError::BadRequest(message).into_response()
        }
        AuthorizeError::Redirect(to) => redirect(StatusCode::FOUND, &to.location(), None),
    })
}

/// `GET /o/authorize/`: validate, send strangers to log in, then ask for consent or,
/// when none is needed, answer at once.
async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    uri: Uri,
) -> Result<Response, PageError> {
    let req = match request(&state, Params::from_query(uri.query())).await {
        Ok(req) => req,
        Err(response) => return Ok(response),
    };
    let hinted = match &req.id_token_hint {
        Some(hint) => {
            let issuer = &state.config.oidc.issuer;
            match state.keys.subject_of(hint, &req.app.client_id, issuer).await {
                Ok(Some(sub)) => Some(sub),
                Ok(None) => {
                    let to =
                        req.fail(ErrorCode::InvalidRequest, "id_token_hint is not an ID token issued to this client");
                    return Ok(redirect(StatusCode::FOUND, &to.location(), None));
                }
                Err(error) => return Err(PageError::Internal(error.to_string())),
            }
        }
        None => None,
    };
    let session = visitor.user.as_ref().map(|u| SessionFacts { user_id: u.id, auth_time: visitor.auth_time() });
    let consented = match &visitor.user {
        Some(user) => authorize::consented(state.store.as_ref(), user.id, req.app.id).await?,
        None => None,
    };
    let here = uri.path_and_query().map(|p| p.as_str()).unwrap_or(paths::AUTHORIZE);
    match (req.next_step(session, consented.as_ref(), hinted.as_deref(), state.clock.now()), &visitor.user) {
        (NextStep::Fail(to), _) => return Ok(redirect(StatusCode::FOUND, &to.location(), None)),
        (NextStep::Login { again: false }, _) | (_, None) => return Ok(login_redirect(here)),
        (NextStep::Login { again: true }, _) => return Ok(login_again_redirect(here)),
        (NextStep::Approve, Some(user)) => {
            let auth_time = visitor.auth_time().unwrap_or_else(|| state.clock.now());
            let ctx = state.grant_context_for(address);
            let to = state.records().approved(&ctx, req.approve(&ctx, user, auth_time).await?).await;
            return Ok(redirect(StatusCode::FOUND, &to.location(), None));
        }
        (NextStep::Consent, Some(_)) => {}
    }
    let redirect_host = url::Url::parse(&req.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned).or_else(|| Some(u.scheme().to_owned())))
        .unwrap_or_default();
    let page = ConsentPage {
        application: Named { name: &req.app.settings.name },
        scopes: scope_views(&state, req.scope.iter()),
        resources: req.resources.to_vec(),
        fields: req.hidden_fields(),
        redirect_host,
        base: Base::of(&visitor),
    };
    Ok(render(&state, &page)?.into_response())
}

/// `POST /o/authorize/`: the consent form's answer. **Authorize** grants, anything
/// else denies with `access_denied`. The form's fields are the authorization request
/// (its hidden fields), read by the rules of the endpoint's own parameters.
async fn answer(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    CsrfForm(visitor, fields): CsrfForm<BTreeMap<String, Vec<String>>>,
) -> Result<Response, PageError> {
    // Only a logged-in user was shown the form; a token from the login page's cookie
    // answers nothing.
    let Some(user) = &visitor.user else { return Err(PageError::Csrf) };
    let params = Params::from_fields(fields);
    let allow = params.as_ref().ok().and_then(|p| p.get("allow")) == Some("Authorize");
    let req = match request(&state, params).await {
        Ok(req) => req,
        Err(response) => return Ok(response),
    };
    let ctx = state.grant_context_for(address);
    let to = if allow {
        let auth_time = visitor.auth_time().unwrap_or_else(|| state.clock.now());
        tracing::info!(user_id = user.id, client_id = %req.app.client_id, "consent given");
        let to = state.records().approved(&ctx, req.approve(&ctx, user, auth_time).await?).await;
        let event = ctx.event(AuditKind::ConsentGranted, &req.app, Some(user.id));
        state.audit.record(event.detail(format!("consent page: scope \"{}\"", req.scope))).await;
        to
    } else {
        tracing::info!(user_id = user.id, client_id = %req.app.client_id, "consent refused");
        let event = ctx.event(AuditKind::ConsentDenied, &req.app, Some(user.id));
        state.audit.record(event.detail(format!("consent page: scope \"{}\"", req.scope))).await;
        req.deny()
    };
    // 303 so the browser follows with GET, as RFC 6749 §3.1 only promises GET support
    // at the client's redirection endpoint.
    Ok(redirect(StatusCode::SEE_OTHER, &to.location(), None))
}
