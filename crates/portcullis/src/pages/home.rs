//! `GET /`: what a person opening the server's address sees. It says what the server
//! is and links the pages and the discovery document; it redirects nowhere, so the
//! root of an authorization server is never a hop to somewhere else.
//!
//! Only the standalone server routes it: a host application that mounts the provider
//! keeps its own `/`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use minijinja::context;

use super::{base_context, render, PageError, Visitor};
use crate::http::AppState;

/// `GET /`.
pub(crate) async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        &state,
        "home.html",
        StatusCode::OK,
        context! {
        // OpenID Connect Discovery when it is on, RFC 8414's metadata (at the
        // issuer's well-known path, §3) otherwise: both list the endpoints.
        openid => state.config.oidc.enabled,
        issuer => &state.config.oidc.issuer, ..base_context(&visitor, csrf) },
    )?;
    Ok(page.into_response())
}
