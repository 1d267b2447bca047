//! `GET` and `POST /o/logout/`: OpenID Connect RP-initiated logout as the browser sees
//! it. The rules are in `oidc::logout`; this module does the session, the confirmation
//! page and the redirect.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde::Serialize;

use super::csrf::token_matches;
use super::{redirect, render, session, Base, Page, PageError, Visitor};
use crate::http::edge::ClientAddr;
use crate::http::{route_both, AppState};
use crate::oauth::Params;
use crate::oidc::logout::{self, LogoutParams, LogoutRequest};
use crate::paths;
use crate::store::{AuditKind, NewAuditEvent};

pub fn router() -> Router<AppState> {
    route_both(Router::new(), paths::END_SESSION, get(end_session).post(end_session))
}

/// The parameters the confirmation form carries back.
const CARRIED: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

/// `logout.html`: the question (`confirm`), or the answer once logged out.
#[derive(Serialize)]
struct LogoutPage<'a> {
    confirm: bool,
    /// The name of the application asking.
    client: Option<String>,
    /// The host the visitor is sent to afterwards.
    destination: Option<String>,
    /// The request's parameters, for the form's hidden fields.
    fields: Option<Vec<(&'a str, &'a str)>>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for LogoutPage<'_> {
    const TEMPLATE: &'static str = "logout.html";
}

async fn end_session(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    // §2: "OPs MUST support the use of the HTTP GET and POST methods".
    let params =
        if method == Method::POST { Params::from_body(&headers, &body) } else { Params::from_query(uri.query()) };
    let params = params.map_err(|e| PageError::BadRequest(e.description.into_owned()))?;
    let request = checked(&state, &params).await?;
    let user_id = visitor.user.as_ref().map(|u| u.id);
    // A POST is the confirmation form (or an RP posting the request, which gets the
    // form, and carries no CSRF token: so this endpoint checks the token itself, on
    // the form's answers only). A visitor who is not logged in answers it too, before
    // a redirect the hint does not vouch for: `csrf_for_page` gave them a token.
    let confirmed = method == Method::POST && params.get("confirm").is_some();
    let token_ok = || token_matches(&visitor, params.get("csrf_token"));
    if confirmed && !token_ok() {
        return Err(PageError::Csrf);
    }
    if method == Method::POST && params.get("stay").is_some() && token_ok() {
        return Ok(redirect(StatusCode::SEE_OTHER, super::login::DEFAULT_NEXT, None));
    }
    if !confirmed && request.needs_confirmation(user_id) {
        let (csrf, cookie) = session::csrf_for_page(&state, &visitor);
        let fields: Vec<(&str, &str)> =
            CARRIED.iter().filter_map(|&name| params.get(name).map(|v| (name, v))).collect();
        let client = request.client.as_ref().map(|c| c.settings.name.clone());
        // RP-Initiated Logout §3: where the person goes next is theirs to decide, so the
        // page names the host before they agree to go there.
        let page = LogoutPage {
            confirm: true,
            client,
            destination: request.destination(),
            fields: Some(fields),
            base: Base::new(&visitor, &csrf),
        };
        return Ok(render(&state, &page)?.cookie(cookie).into_response());
    }
    let cleared = end(&state, &visitor, &request, address).await?;
    let status = if method == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    match &request.redirect {
        Some(to) => Ok(redirect(status, to, cleared)),
        None => {
            let page =
                LogoutPage { confirm: false, client: None, destination: None, fields: None, base: Base::anonymous() };
            Ok(render(&state, &page)?.cookie(cleared).into_response())
        }
    }
}

async fn checked(state: &AppState, params: &Params) -> Result<LogoutRequest, PageError> {
    let hint = match params.get("id_token_hint") {
        Some(token) => Some(
            state
                .keys
                .identify(token, &state.config.oidc.issuer)
                .await
                .map_err(|e| PageError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    let client_id = params.get("client_id");
    let named = client_id.or(hint.as_ref().and_then(|h| h.as_ref()).map(|h| h.client_id.as_str()));
    let client = match named {
        Some(id) => state.store.application_by_client_id(id).await?,
        None => None,
    };
    logout::validate(LogoutParams {
        hint,
        client_id,
        client,
        post_logout_redirect_uri: params.get("post_logout_redirect_uri"),
        state: params.get("state"),
    })
    .map_err(PageError::BadRequest)
}

/// Ends the session and, unless `oidc.logout_revokes_tokens` is off, revokes the user's
/// tokens for the client the request names (their consent stays); other clients'
/// tokens are left alone. Returns the cookie that clears the session, if there was one.
async fn end(
    state: &AppState,
    visitor: &Visitor,
    request: &LogoutRequest,
    address: Option<std::net::IpAddr>,
) -> Result<Option<http::HeaderValue>, PageError> {
    let Some((id, _)) = &visitor.session else { return Ok(None) };
    let revoke = state.config.oidc.logout_revokes_tokens;
    let mut revoked = None;
    if let (Some(user), Some(client), true) = (&visitor.user, &request.client, revoke) {
        let count = state.store.revoke_user_tokens(user.id, client.id, state.clock.now()).await?;
        tracing::info!(user_id = user.id, client_id = %client.client_id, revoked = count, "logout: tokens revoked");
        revoked = Some(count);
    }
    state.store.delete_session(id).await?;
    tracing::info!(user_id = ?visitor.user.as_ref().map(|u| u.id), "logout");
    if let Some(user) = &visitor.user {
        let mut event = NewAuditEvent::new(AuditKind::Logout, state.clock.now()).user(user.id).addr(address);
        if let Some(client) = &request.client {
            event = event.client(&client.client_id);
        }
        let detail = match revoked {
            Some(count) => format!("OpenID Connect logout: {count} of the user's tokens for the client revoked"),
            None => "OpenID Connect logout".to_owned(),
        };
        state.audit.record(event.detail(detail)).await;
    }
    Ok(Some(session::clear(state)))
}
