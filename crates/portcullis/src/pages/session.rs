//! Browser sessions: a random id in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when
//! the server's public address is https), its hash and the session's data in the
//! store, so any instance can serve any request. Every session carries a CSRF token
//! that every form must echo (checked by `csrf::CsrfForm`).
//!
//! A visitor who is not logged in has no session in the store: the forms they see (the
//! login page, the logout question) take their CSRF token from a cookie of its own,
//! which the form must echo (a double-submit token, which another site can neither
//! read nor, `SameSite=Lax`, send with a forged POST). Storing a session for every
//! anonymous page view would let anyone fill the database by asking for the login
//! page without cookies.

use axum::extract::FromRequestParts;
use cookie::{Cookie, SameSite};
use http::header::COOKIE;
use http::request::Parts;
use http::{HeaderMap, HeaderValue};

use crate::crypto::{random_string, Secret, TokenHash};
use crate::http::AppState;
use crate::store::{NewSession, SessionRecord, StoreError, User};

pub const COOKIE_NAME: &str = "portcullis_session";
/// The cookie that carries an anonymous visitor's CSRF token.
pub const CSRF_COOKIE_NAME: &str = "portcullis_csrf";
/// The length of the tokens Portcullis makes (`random_string(32)`'s); a cookie that
/// holds anything else is not one of them.
const CSRF_TOKEN_CHARS: usize = 43;
/// A logged-in session lasts two weeks (Django's default); an anonymous visitor's CSRF
/// cookie, an hour.
const USER_SESSION_SECONDS: i64 = 14 * 24 * 3600;
const ANONYMOUS_CSRF_SECONDS: i64 = 3600;

/// Who is asking: the session the cookie names (if any, and not expired), and its user
/// (if logged in and still active).
#[derive(Debug, Clone, Default)]
pub(crate) struct Visitor {
    pub session: Option<(TokenHash, SessionRecord)>,
    pub user: Option<User>,
    /// Without a session: the CSRF token of the visitor's own cookie, if any.
    pub anonymous_csrf: Option<String>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = crate::pages::PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let anonymous = || Self {
            anonymous_csrf: cookie(&parts.headers, CSRF_COOKIE_NAME).filter(|t| is_csrf_token(t)),
            ..Self::default()
        };
        let Some(id) = cookie(&parts.headers, COOKIE_NAME) else { return Ok(anonymous()) };
        let hash = TokenHash::of(&id);
        let Some(record) = state.store.session(&hash, state.clock.now()).await? else { return Ok(anonymous()) };
        let user = match record.user_id {
            Some(id) => state.accounts.user(id).await?.map(User::from),
            None => None,
        };
        Ok(Self { session: Some((hash, record)), user, anonymous_csrf: None })
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether `token` has the shape of the tokens Portcullis makes (URL-safe base64).
fn is_csrf_token(token: &str) -> bool {
    token.len() == CSRF_TOKEN_CHARS && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Visitor {
    /// The token this visitor's forms must carry: the session's, or the anonymous
    /// cookie's; none without either.
    pub fn csrf_token(&self) -> Option<&str> {
        match &self.session {
            Some((_, session)) => Some(session.csrf_token.as_str()),
            None => self.anonymous_csrf.as_deref(),
        }
    }

    pub fn auth_time(&self) -> Option<i64> {
        self.session.as_ref().and_then(|(_, s)| s.auth_time)
    }
}

/// A new session, for a user who just logged in. Returns its CSRF token and the
/// `Set-Cookie` value.
pub async fn start(state: &AppState, user: &User) -> Result<(String, HeaderValue), StoreError> {
    let now = state.clock.now();
    let id = Secret::generate();
    let csrf = random_string(32);
    state
        .store
        .create_session(&NewSession {
            id_hash: id.hash(),
            user_id: Some(user.id),
            csrf_token: csrf.clone(),
            auth_time: Some(now),
            created_at: now,
            expires_at: now + USER_SESSION_SECONDS,
        })
        .await?;
    Ok((csrf, set_cookie(state, COOKIE_NAME, id.expose(), USER_SESSION_SECONDS)))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear(state: &AppState) -> HeaderValue {
    set_cookie(state, COOKIE_NAME, "", 0)
}

/// A `Set-Cookie` value for cookie `name`, kept `seconds` (0: removed at once): for
/// the whole site, out of scripts' reach, not sent with other sites' POSTs, and only
/// over https when the server's address is https.
fn set_cookie(state: &AppState, name: &'static str, value: &str, seconds: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.oidc.issuer.starts_with("https://"))
        .max_age(cookie::time::Duration::seconds(seconds))
        .build();
    // A cookie built from our own base64url value always makes a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token for a page's forms: the session's, or the anonymous visitor's cookie's,
/// or a new one in a new cookie (nothing stored); the second value is the `Set-Cookie`
/// header to send with the page.
pub fn csrf_for_page(state: &AppState, visitor: &Visitor) -> (String, Option<HeaderValue>) {
    if let Some(token) = visitor.csrf_token() {
        return (token.to_owned(), None);
    }
    let token = random_string(32);
    let cookie = set_cookie(state, CSRF_COOKIE_NAME, &token, ANONYMOUS_CSRF_SECONDS);
    (token, Some(cookie))
}
