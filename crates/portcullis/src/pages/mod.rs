//! Human-facing HTML: login, the authorization endpoint's consent page, and the pages
//! users and staff manage things with. Machine-facing endpoints live in `oauth`.
//!
//! The pages are mounted by [`http::router`](crate::http::router); only their
//! [`templates`](crate::pages::templates) are public. Each handler reads its form
//! through [`CsrfForm`] and answers with a typed [`Page`] or a redirect.

pub(crate) mod admin;
mod application_form;
pub(crate) mod applications;
pub(crate) mod authorize;
pub(crate) mod authorized;
mod csrf;
pub(crate) mod device;
mod error;
mod form;
pub(crate) mod home;
pub(crate) mod login;
/// RP-initiated logout's page, which exists only with OpenID Connect.
pub(crate) mod logout;
mod page;
pub(crate) mod playground;
pub(crate) mod session;
pub mod templates;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode, Uri};
use serde::{Deserialize, Serialize};

use crate::http::AppState;
pub(crate) use csrf::{CsrfForm, NoFields};
pub(crate) use error::PageError;
pub(crate) use form::Query;
pub(crate) use page::{render, Base, Html, Page};
pub(crate) use session::Visitor;
pub use templates::Templates;

/// The pages; with `openid`, OpenID Connect's logout page as well.
pub(crate) fn router(openid: bool) -> Router<AppState> {
    let router = if openid { logout::router() } else { Router::new() };
    router
        .merge(login::router())
        .merge(device::router())
        .merge(authorize::router())
        .merge(applications::router())
        .merge(authorized::router())
        .merge(admin::router())
        .merge(playground::router())
        .route(
            "/static/portcullis.css",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
                    templates::STYLESHEET,
                )
            }),
        )
        // The script behind the "Copy" buttons next to client ids and secrets: a file of
        // our own, since the pages' CSP allows no inline script.
        .route(
            "/static/copy.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
                    include_str!("../../static/copy.js"),
                )
            }),
        )
}

/// A scope as pages show it: its name and the description the settings give it.
#[derive(Serialize)]
pub(crate) struct ScopeView {
    name: String,
    description: String,
}

/// Each scope with the description the settings give it.
pub(crate) fn scope_views<'a>(state: &AppState, scopes: impl Iterator<Item = &'a str>) -> Vec<ScopeView> {
    let descriptions = &state.config.oauth2.scopes;
    scopes
        .map(|s| ScopeView {
            name: s.to_owned(),
            description: descriptions.get(s).cloned().unwrap_or_else(|| "(no longer configured)".to_owned()),
        })
        .collect()
}

/// A `303 See Other` (after a form) or `302 Found` redirect, optionally setting a cookie.
pub(crate) fn redirect(status: StatusCode, location: &str, set_cookie: Option<HeaderValue>) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// A time for a page: machine-readable for `<time datetime>`, and for people.
#[derive(Debug, Serialize)]
pub(crate) struct DateView {
    pub iso: String,
    pub text: String,
}

pub(crate) fn date_view(timestamp: i64) -> DateView {
    match cookie::time::OffsetDateTime::from_unix_timestamp(timestamp) {
        Ok(t) => {
            let (y, mo, d, h, mi, s) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
            DateView {
                iso: format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
                text: format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
            }
        }
        Err(_) => DateView { iso: String::new(), text: timestamp.to_string() },
    }
}

/// To the login page even for a logged-in user (`prompt=login`, or `max_age` passed),
/// and back to `here` without `prompt=login`, which the new login has satisfied, so the
/// authorization request does not send the user round again.
pub(crate) fn login_again_redirect(here: &str) -> Response {
    let back = match here.split_once('?') {
        Some((path, query)) => {
            let mut kept = form_urlencoded::Serializer::new(String::new());
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                if name == "prompt" {
                    let rest: Vec<&str> = value.split(' ').filter(|v| !v.is_empty() && *v != "login").collect();
                    if !rest.is_empty() {
                        kept.append_pair("prompt", &rest.join(" "));
                    }
                } else {
                    kept.append_pair(&name, &value);
                }
            }
            format!("{path}?{}", kept.finish())
        }
        None => here.to_owned(),
    };
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    redirect(StatusCode::FOUND, &format!("{}?next={next}&again=1", crate::paths::LOGIN), None)
}

/// Sends a visitor who is not logged in to the login page, to come back to `here` (a
/// path on this site, with its query if any).
pub(crate) fn login_redirect(here: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    redirect(StatusCode::FOUND, &format!("{}?next={next}", crate::paths::LOGIN), None)
}

/// A path constant with its `{id}` filled in.
pub(crate) fn with_id(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
}

/// The path and query of a request, for [`login_redirect`].
pub(crate) fn here(uri: &Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path())
}

/// A record id from a path. Anything that is not one names no page.
pub(crate) fn parse_id(raw: &str) -> Result<i64, PageError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(PageError::NotFound)
}

/// The query of a page that a change redirects to: `done` names the notice to show.
/// Each page shows only the notices it knows, so a link cannot put words of its own
/// on the page.
#[derive(Deserialize)]
pub(crate) struct Done {
    pub done: Option<String>,
}

/// A `next` target is safe only as a path on this site: it starts with one `/`, and
/// has no backslash (browsers read `/\evil.example` as `//evil.example`), no scheme, no
/// control characters.
pub(crate) fn safe_next(next: Option<&str>) -> Option<&str> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 4096;
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next(Some("/o/authorize/?client_id=a&x=1")), Some("/o/authorize/?client_id=a&x=1"));
        for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "evil", "/a\nb", "javascript:x", ""] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
    }
}
