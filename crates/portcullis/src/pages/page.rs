//! Typed pages: each template has one struct holding exactly the values it reads (the
//! names operators' own templates use too), and [`render`] is the one way to turn one
//! into HTML.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::{PageError, Visitor};
use crate::http::AppState;
use crate::store::User;

/// The values of one template, named by `TEMPLATE`.
pub(crate) trait Page: Serialize {
    /// The template's name among the built-in ones (`admin/users.html`), which an
    /// operator's file of that name replaces.
    const TEMPLATE: &'static str;
}

/// What `base.html` reads on every page: the logged-in user, and the CSRF token its
/// logout form carries. Every page struct holds one, flattened.
#[derive(Serialize)]
pub(crate) struct Base<'a> {
    user: Option<UserView>,
    csrf_token: &'a str,
}

impl<'a> Base<'a> {
    /// For `visitor`'s page, whose forms carry `csrf_token`.
    pub(crate) fn new(visitor: &Visitor, csrf_token: &'a str) -> Self {
        Self { user: visitor.user.as_ref().map(UserView::from), csrf_token }
    }

    /// For `visitor`'s page, with the token they already hold (none: the page has no
    /// form for them).
    pub(crate) fn of(visitor: &'a Visitor) -> Self {
        Self::new(visitor, visitor.csrf_token().unwrap_or_default())
    }

    /// For a page shown to nobody in particular: no user, no token.
    pub(crate) fn anonymous() -> Self {
        Self { user: None, csrf_token: "" }
    }
}

/// What templates see of the logged-in user.
#[derive(Serialize)]
struct UserView {
    id: i64,
    username: String,
    is_staff: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id, username: user.username.clone(), is_staff: user.is_staff }
    }
}

/// Renders `page` with its template: `200 OK`, no cookie, until changed.
pub(crate) fn render<P: Page>(state: &AppState, page: &P) -> Result<Html, PageError> {
    let html = state.templates.render(P::TEMPLATE, page).map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(Html { status: StatusCode::OK, html, set_cookie: None })
}

/// An HTML page ready to send: status, body, and a cookie to set if any.
pub(crate) struct Html {
    pub status: StatusCode,
    pub html: String,
    pub set_cookie: Option<HeaderValue>,
}

impl Html {
    /// The page with `status` in place of `200 OK`.
    pub(crate) fn status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }

    /// The page setting `cookie`, if any.
    pub(crate) fn cookie(self, cookie: Option<HeaderValue>) -> Self {
        Self { set_cookie: cookie, ..self }
    }
}

impl IntoResponse for Html {
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
