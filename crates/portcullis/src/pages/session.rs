//! Browser sessions: a random id in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when
//! the server's public address is https), its hash and the session's data in the
//! store, so any instance can serve any request. Every session carries a CSRF token
//! that every form must echo.

use axum::extract::FromRequestParts;
use cookie::{Cookie, SameSite};
use http::header::COOKIE;
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::crypto::{random_string, Secret, TokenHash};
use crate::store::{NewSession, SessionRecord, StoreError, User};

pub const COOKIE_NAME: &str = "portcullis_session";
/// A logged-in session lasts two weeks (Django's default); an anonymous one, which only
/// carries the login form's CSRF token, an hour.
const USER_SESSION_SECONDS: i64 = 14 * 24 * 3600;
const ANONYMOUS_SESSION_SECONDS: i64 = 3600;

/// Who is asking: the session the cookie names (if any, and not expired), and its user
/// (if logged in and still active).
#[derive(Debug, Clone, Default)]
pub(crate) struct Visitor {
    pub session: Option<(TokenHash, SessionRecord)>,
    pub user: Option<User>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = crate::pages::PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(id) = session_cookie(&parts.headers) else { return Ok(Self::default()) };
        let hash = TokenHash::of(&id);
        let Some(record) = state.store.session(&hash, state.clock.now()).await? else { return Ok(Self::default()) };
        let user = match record.user_id {
            Some(id) => state.accounts.user(id).await?.map(User::from),
            None => None,
        };
        Ok(Self { session: Some((hash, record)), user })
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_owned())
}

impl Visitor {
    pub fn csrf_token(&self) -> Option<&str> {
        self.session.as_ref().map(|(_, s)| s.csrf_token.as_str())
    }

    /// Whether a form's `csrf_token` is this session's, compared in constant time.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        match (self.csrf_token(), presented) {
            (Some(expected), Some(presented)) => {
                expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        }
    }

    pub fn auth_time(&self) -> Option<i64> {
        self.session.as_ref().and_then(|(_, s)| s.auth_time)
    }
}

/// A new session, for a user who just logged in (`Some`) or an anonymous visitor
/// (`None`). Returns its CSRF token and the `Set-Cookie` value.
pub async fn start(state: &AppState, user: Option<&User>) -> Result<(String, HeaderValue), StoreError> {
    let now = state.clock.now();
    let id = Secret::generate();
    let lifetime = if user.is_some() { USER_SESSION_SECONDS } else { ANONYMOUS_SESSION_SECONDS };
    let csrf = random_string(32);
    state
        .store
        .create_session(&NewSession {
            id_hash: id.hash(),
            user_id: user.map(|u| u.id),
            csrf_token: csrf.clone(),
            auth_time: user.map(|_| now),
            created_at: now,
            expires_at: now + lifetime,
        })
        .await?;
    let cookie = Cookie::build((COOKIE_NAME, id.expose().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(cookie::time::Duration::seconds(lifetime))
        .build();
    Ok((csrf, header(&cookie)))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear(state: &AppState) -> HeaderValue {
    let cookie = Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(cookie::time::Duration::ZERO)
        .build();
    header(&cookie)
}

fn secure(state: &AppState) -> bool {
    state.config.oidc.issuer.starts_with("https://")
}

fn header(cookie: &Cookie<'_>) -> HeaderValue {
    // A cookie built from our own base64url value always makes a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token for a page's forms, starting an anonymous session if the visitor
/// has none yet; the second value is the `Set-Cookie` header to send with the page.
pub async fn csrf_for_page(state: &AppState, visitor: &Visitor) -> Result<(String, Option<HeaderValue>), StoreError> {
    match visitor.csrf_token() {
        Some(token) => Ok((token.to_owned(), None)),
        None => {
            let (token, cookie) = start(state, None).await?;
            Ok((token, Some(cookie)))
        }
    }
}
