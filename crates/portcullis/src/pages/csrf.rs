//! Cross-site request forgery: every form a page shows carries the visitor's CSRF
//! token (the session's, or for a visitor who is not logged in, the token of their
//! `portcullis_csrf` cookie: see `session`), and a form handler reads its fields only
//! through [`CsrfForm`], which refuses a body without that token. A handler that
//! takes a form any other way does not get one.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{form, PageError, Visitor};
use crate::http::AppState;

/// A form body whose `csrf_token` field is the token of the visitor who sent it, with
/// who sent it (`W`: the [`Visitor`], or an extractor that narrows it, such as
/// `admin::Staff`) and its other fields (`T`, read by [`form::parse`]).
///
/// Extracting it answers in this order: `W`'s own refusal (a staff-only page's
/// redirect or 403, say), `413` for a body over the router's limit, `403` with the
/// "Form expired" page when the token is missing or wrong, and `422` when a field `T`
/// requires is missing. So nothing in a forged form is read, or even parsed, beyond
/// the token.
pub(crate) struct CsrfForm<T = NoFields, W = Visitor>(pub W, pub T);

/// The fields of a form that only carries its CSRF token (a button).
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// Who sent a form: whatever holds the [`Visitor`] whose token it must carry.
pub(crate) trait Sender: Send {
    /// The visitor whose CSRF token the form must carry.
    fn visitor(&self) -> &Visitor;
}

impl Sender for Visitor {
    fn visitor(&self) -> &Visitor {
        self
    }
}

impl<T, W> FromRequest<AppState> for CsrfForm<T, W>
where
    T: DeserializeOwned,
    W: FromRequestParts<AppState> + Sender,
    W::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let sender = W::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let body =
            Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        if !token_matches(sender.visitor(), form::first(&body, "csrf_token").as_deref()) {
            return Err(PageError::Csrf.into_response());
        }
        match form::parse(&body) {
            Ok(fields) => Ok(Self(sender, fields)),
            Err(error) => {
                Err((StatusCode::UNPROCESSABLE_ENTITY, format!("Failed to deserialize form body: {error}"))
                    .into_response())
            }
        }
    }
}

/// Whether `presented` is `visitor`'s CSRF token, compared in constant time. A visitor
/// without one (no session, no cookie) matches nothing.
///
/// Only [`CsrfForm`] and RP-initiated logout call it: logout's endpoint also takes the
/// relying party's own POST, which carries no token, so it checks the token only on
/// its confirmation form's answers.
pub(super) fn token_matches(visitor: &Visitor, presented: Option<&str>) -> bool {
    match (visitor.csrf_token(), presented) {
        (Some(expected), Some(presented)) => {
            expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}
