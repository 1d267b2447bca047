//! `/o/playground/`: what django-oauth-toolkit's tutorial did with its hosted "consumer"
//! page. A logged-in user picks one of their applications and runs the authorization
//! code flow with PKCE against this server from the browser: the authorization
//! request, the code that comes back, the token request and answer, and an API call
//! with the token, each shown as sent and received. The flow runs in the page's own
//! script (`/static/playground.js`), as a real client would, so nothing here is
//! simulated by the server.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{HeaderMap, Uri};
use serde::Serialize;

use super::{login_redirect, render, Base, Page, PageError, Visitor};
use crate::http::{route_both, AppState};
use crate::paths;
use crate::proto::{ClientType, GrantType};

/// The playground script, served at `/static/playground.js` (the pages' CSP allows
/// scripts from this origin only, never inline).
const SCRIPT: &str = include_str!("../../static/playground.js");

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::PLAYGROUND, get(playground));
    route_both(router, paths::PLAYGROUND_CALLBACK, get(playground)).route(
        "/static/playground.js",
        get(|| async {
            ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], SCRIPT)
        }),
    )
}

#[derive(Serialize)]
struct AppChoice {
    client_id: String,
    name: String,
    public: bool,
    ready: bool,
}

/// `playground.html`.
#[derive(Serialize)]
struct PlaygroundPage<'a> {
    applications: Vec<AppChoice>,
    /// The redirect URI an application needs for the playground.
    callback: String,
    /// The configured scopes, by name.
    scopes: Vec<&'a str>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for PlaygroundPage<'_> {
    const TEMPLATE: &'static str = "playground.html";
}

/// The playground page; the callback path serves the same page, whose script then
/// reads the code from the address bar.
async fn playground(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else {
        return Ok(login_redirect(uri.path()));
    };
    // The redirect URI the user registers for the playground: this server's own
    // callback page, at the address the browser used to reach it.
    let scheme = if state.config.oidc.issuer.starts_with("https://") { "https" } else { "http" };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8000");
    let callback = format!("{scheme}://{host}{}{}", state.base, paths::PLAYGROUND_CALLBACK);
    let apps: Vec<AppChoice> = state
        .store
        .applications_owned_by(user.id)
        .await?
        .into_iter()
        .map(|a| AppChoice {
            ready: a.allows_grant(GrantType::AuthorizationCode) && a.settings.redirect_uris.contains(&callback),
            public: a.settings.client_type == ClientType::Public,
            client_id: a.client_id,
            name: a.settings.name,
        })
        .collect();
    let page = PlaygroundPage {
        applications: apps,
        callback,
        scopes: state.config.oauth2.scopes.keys().map(String::as_str).collect(),
        base: Base::of(&visitor),
    };
    Ok(render(&state, &page)?.into_response())
}
