//! Human-facing HTML: login, the authorization endpoint's consent page, and the pages
//! users and staff manage things with. Machine-facing endpoints live in `oauth`.
//!
//! The pages are mounted by [`http::router`](crate::http::router); only their
//! [`templates`](crate::pages::templates) are public.

pub(crate) mod admin;
pub(crate) mod applications;
pub(crate) mod authorize;
pub(crate) mod authorized;
pub(crate) mod device;
pub(crate) mod home;
pub(crate) mod login;
/// RP-initiated logout's page, which exists only with OpenID Connect.
pub(crate) mod logout;
pub(crate) mod playground;
pub(crate) mod session;
pub mod templates;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use minijinja::context;
use serde::Serialize;

use crate::http::AppState;
use crate::store::{StoreError, User};
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

/// What templates see of the logged-in user.
#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    pub id: i64,
    pub username: String,
    pub is_staff: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id, username: user.username.clone(), is_staff: user.is_staff }
    }
}

/// An HTML page ready to send: status, body, and a cookie to set if any.
pub(crate) struct Page {
    pub status: StatusCode,
    pub html: String,
    pub set_cookie: Option<HeaderValue>,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, [(CONTENT_TYPE, "text/html; charset=utf-8")], self.html).into_response();
        let headers = response.headers_mut();
        // Pages carry CSRF tokens and personal data: never cached. The rest of their
        // defences (CSP, no framing, no referrer) are on every answer: see `edge`.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(cookie) = self.set_cookie {
            headers.append(SET_COOKIE, cookie);
        }
        response
    }
}

/// Renders a template into a [`Page`].
pub(crate) fn render<S: Serialize>(
    state: &AppState,
    name: &str,
    status: StatusCode,
    context: S,
) -> Result<Page, PageError> {
    let html = state.templates.render(name, context).map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(Page { status, html, set_cookie: None })
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

/// Failures of a page, shown as an error page with the right status; causes of 500s
/// go to the log only.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Your session has expired or the form was not sent from this site. Reload the page and try again.")]
    Csrf,
    #[error("You do not have access to this page.")]
    Forbidden,
    #[error("There is no such page.")]
    NotFound,
    #[error("{message}")]
    TooMany { message: String, retry_after: i64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::oauth::EndpointError> for PageError {
    fn from(error: crate::oauth::EndpointError) -> Self {
        match error {
            crate::oauth::EndpointError::Store(e) => e.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "Invalid request", m.clone()),
            Self::Csrf => (StatusCode::FORBIDDEN, "Form expired", self.to_string()),
            Self::Forbidden => (StatusCode::FORBIDDEN, "Forbidden", self.to_string()),
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found", self.to_string()),
            Self::TooMany { message, .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", message.clone()),
            Self::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The service is unavailable; try again shortly.".into(),
                )
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Error", "Something went wrong on our side.".into())
            }
        };
        // The error page is plain: it must render even when the templates or the
        // database are what failed.
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\"><title>{title} · Portcullis</title>\
             <link rel=\"stylesheet\" href=\"/static/portcullis.css\"></head><body><main id=\"content\">\
             <section class=\"card narrow\"><h1>{title}</h1><p class=\"error\" role=\"alert\">{}</p>\
             </section></main></body></html>",
            escape(&message)
        );
        let mut response = Page { status, html, set_cookie: None }.into_response();
        let retry_after = match self {
            Self::TooMany { retry_after, .. } => Some(retry_after),
            // The pool gave no connection in time: shed, worth retrying soon.
            Self::Unavailable(_) => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Minimal HTML escaping for the fallback error page.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The base context every page template gets: the user and the CSRF token.
pub(crate) fn base_context(visitor: &Visitor, csrf_token: &str) -> minijinja::Value {
    context! {
        user => visitor.user.as_ref().map(UserView::from),
        csrf_token => csrf_token,
    }
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
