//! `GET /`: what a person opening the server's address sees. It says what the server
//! is and links the pages and the discovery document; it redirects nowhere, so the
//! root of an authorization server is never a hop to somewhere else.
//!
//! Only the standalone server routes it: a host application that mounts the provider
//! keeps its own `/`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{render, Base, Page, PageError, Visitor};
use crate::http::AppState;

/// `home.html`.
#[derive(Serialize)]
struct HomePage<'a> {
    /// Whether to link OpenID Connect Discovery; RFC 8414's metadata (at the issuer's
    /// well-known path, §3) otherwise: both list the endpoints.
    openid: bool,
    issuer: &'a str,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for HomePage<'_> {
    const TEMPLATE: &'static str = "home.html";
}

/// `GET /`.
pub(crate) async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let page =
        HomePage { openid: state.config.oidc.enabled, issuer: &state.config.oidc.issuer, base: Base::of(&visitor) };
    Ok(render(&state, &page)?.into_response())
}
