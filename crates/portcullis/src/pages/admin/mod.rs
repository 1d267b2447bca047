//! `/admin/`: staff-only pages for users, applications and tokens, as Django's admin
//! site serves them for django-oauth-toolkit. Staff change any application here with
//! the rules of `registration` for staff: skip authorization and every grant type
//! included, which the self-service pages keep from other users.
//!
//! Every page needs a logged-in staff member ([`Staff`]): strangers are sent to log in,
//! other users get a 403. Every form then checks the session's CSRF token before
//! anything else (`CsrfForm<_, Staff>`), and each change is one store call (one
//! transaction), so a refused or failed request changes nothing. Forms answer with
//! `303 See Other` to the page that shows the result, carrying a `done` code that
//! names one of a fixed set of notices.

mod applications;
mod audit;
mod tokens;
mod users;

use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use serde::Serialize;

use super::csrf::Sender;
use super::{date_view, login_redirect, render, Base, Page, PageError, Visitor};
use crate::http::{route_both, AppState};
use crate::paths;
use crate::store::{AuditKind, NewAuditEvent, User};

/// Rows per page of every list.
const PER_PAGE: i64 = 50;
/// The highest page number accepted: far beyond any real list, low enough that the
/// offset never overflows.
const MAX_PAGE: i64 = 1_000_000;
/// The longest search text or filter value accepted.
const MAX_SEARCH: usize = 255;

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::ADMIN, get(index));
    let router = route_both(router, paths::ADMIN_USERS, get(users::list));
    let router = route_both(router, paths::ADMIN_USER_NEW, get(users::new).post(users::create));
    let router = route_both(router, paths::ADMIN_USER, get(users::show));
    let router = route_both(router, paths::ADMIN_USER_ACTIVE, post(users::set_active));
    let router = route_both(router, paths::ADMIN_USER_PASSWORD, post(users::reset_password));
    let router = route_both(router, paths::ADMIN_USER_GROUPS, post(users::set_groups));
    let router = route_both(router, paths::ADMIN_APPLICATIONS, get(applications::list));
    let router = route_both(router, paths::ADMIN_APPLICATION, get(applications::show));
    let router =
        route_both(router, paths::ADMIN_APPLICATION_UPDATE, get(applications::show).post(applications::update));
    let router = route_both(router, paths::ADMIN_APPLICATION_DELETE, post(applications::delete));
    let router = route_both(router, paths::ADMIN_TOKENS, get(tokens::list));
    let router = route_both(router, paths::ADMIN_TOKEN_REVOKE, post(tokens::revoke));
    route_both(router, paths::ADMIN_AUDIT, get(audit::list))
}

/// A logged-in staff member (superusers are staff). As an extractor it answers for
/// everyone else: a redirect to the login page for strangers, 403 for other users.
pub struct Staff {
    pub visitor: Visitor,
    pub user: User,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Some(user) = visitor.user.clone() else {
            return Err(login_redirect(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(paths::ADMIN)));
        };
        if !(user.is_staff || user.is_superuser) {
            tracing::info!(user_id = user.id, "admin refused: not staff");
            return Err(PageError::Forbidden.into_response());
        }
        Ok(Self { visitor, user })
    }
}

impl Sender for Staff {
    fn visitor(&self) -> &Visitor {
        &self.visitor
    }
}

impl Staff {
    /// What every admin page reads besides its own values; `section` marks the current
    /// navigation link.
    fn base(&self, section: &'static str) -> AdminBase<'_> {
        AdminBase { section, base: Base::of(&self.visitor) }
    }

    /// Records what this staff member did, from `address`, about `client` if any.
    async fn record(
        &self,
        state: &AppState,
        kind: AuditKind,
        address: Option<std::net::IpAddr>,
        client: Option<&str>,
        detail: impl AsRef<str>,
    ) {
        let mut event = NewAuditEvent::new(kind, state.clock.now()).user(self.user.id).addr(address);
        if let Some(client_id) = client {
            event = event.client(client_id);
        }
        state.audit.record(event.detail(detail)).await;
    }

    /// Only a superuser may change a superuser's account: otherwise any staff member
    /// could take one over by setting its password.
    fn may_change(&self, target: &User) -> bool {
        !target.is_superuser || self.user.is_superuser
    }
}

/// What `admin/layout.html` reads on every admin page, flattened into each.
#[derive(Serialize)]
struct AdminBase<'a> {
    section: &'static str,
    #[serde(flatten)]
    base: Base<'a>,
}

/// A query value as the pages read it: trimmed, empty when absent.
fn text(value: Option<&str>) -> &str {
    value.map(str::trim).unwrap_or_default()
}

/// A search text or filter value, at most [`MAX_SEARCH`] characters.
fn search(value: Option<&str>) -> Result<&str, PageError> {
    let value = text(value);
    if value.chars().count() > MAX_SEARCH {
        return Err(PageError::BadRequest(format!("The search text is too long: at most {MAX_SEARCH} characters.")));
    }
    Ok(value)
}

/// The `page` number of a list: absent or empty means 1.
fn page_number(value: Option<&str>) -> Result<i64, PageError> {
    match text(value) {
        "" => Ok(1),
        text => text.parse().ok().filter(|page| (1..=MAX_PAGE).contains(page)).ok_or_else(|| {
            PageError::BadRequest(format!("The page number must be a whole number from 1 to {MAX_PAGE}."))
        }),
    }
}

/// The notice a form's redirect asked for (`done`), from a fixed list.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "The user was created.",
        "deactivated" => "The user was deactivated: they cannot log in, and their tokens are refused.",
        "reactivated" => "The user was reactivated: they can log in, and their unexpired tokens work again.",
        "password" => {
            "The password was changed, and the user's other sessions were ended. Tokens already issued to them \
             stay valid until they expire or are revoked."
        }
        "password_revoked" => {
            "The password was changed, the user's other sessions were ended, and every token issued to them was \
             revoked."
        }
        "groups" => "The groups were saved.",
        "deleted" => "The application and all its tokens were deleted.",
        "updated" => "The application's settings were saved.",
        "revoked" => "The token was revoked.",
        "grant_revoked" => "The token and every token of its grant were revoked.",
        _ => return None,
    })
}

/// `path` with a query string of the non-empty `pairs`.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Unix seconds as a UTC date and time, `YYYY-MM-DD HH:MM`.
pub fn format_utc(seconds: i64) -> String {
    // The same clock reading as every other page, without the zone (the admin says
    // once that its times are UTC).
    date_view(seconds).text.trim_end_matches(" UTC").to_owned()
}

/// The paging links of a list.
#[derive(Serialize)]
struct Pager {
    page: i64,
    pages: i64,
    total: i64,
    previous: Option<String>,
    next: Option<String>,
}

impl Pager {
    /// `link(n)` is the URL of page `n`.
    fn new(page: i64, total: i64, link: impl Fn(i64) -> String) -> Self {
        let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
        Self {
            page,
            pages,
            total,
            previous: (page > 1).then(|| link((page - 1).min(pages))),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

fn offset(page: i64) -> i64 {
    (page - 1) * PER_PAGE
}

/// `admin/index.html`: counts and links.
#[derive(Serialize)]
struct IndexPage<'a> {
    users: i64,
    applications: i64,
    live_tokens: i64,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for IndexPage<'_> {
    const TEMPLATE: &'static str = "admin/index.html";
}

/// `GET /admin/`.
async fn index(State(state): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    let page = IndexPage {
        users: state.store.count_users().await?,
        applications: state.store.count_applications().await?,
        live_tokens: state.store.count_live_tokens(state.clock.now()).await?,
        admin: staff.base("index"),
    };
    Ok(render(&state, &page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_minutes() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(951_782_399), "2000-02-28 23:59");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_utc(1_800_000_000), "2027-01-15 08:00");
        assert_eq!(format_utc(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn page_numbers_are_validated() {
        let page = |q: Option<&str>| page_number(q).ok();
        assert_eq!(page(None), Some(1));
        assert_eq!(page(Some("")), Some(1));
        assert_eq!(page(Some("3")), Some(3));
        for bad in ["0", "-1", "x", "1.5", "99999999999999999999", "1000001"] {
            assert_eq!(page(Some(bad)), None, "{bad}");
        }
        assert!(search(Some(&"x".repeat(256))).is_err());
        assert_eq!(search(Some(" a ")).ok(), Some("a"));
    }

    #[test]
    fn pager_links() {
        let link = |n: i64| format!("/p?page={n}");
        let first = Pager::new(1, 120, link);
        assert_eq!((first.pages, first.previous, first.next.as_deref()), (3, None, Some("/p?page=2")));
        let last = Pager::new(3, 120, link);
        assert_eq!((last.previous.as_deref(), last.next), (Some("/p?page=2"), None));
        let beyond = Pager::new(9, 120, link);
        assert_eq!(beyond.previous.as_deref(), Some("/p?page=3"));
        assert_eq!(Pager::new(1, 0, link).pages, 1);
        assert_eq!(with_query("/a/", &[("q", "x y&z"), ("page", "")]), "/a/?q=x+y%26z");
    }
}
