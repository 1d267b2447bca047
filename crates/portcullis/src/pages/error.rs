//! Why a page could not be shown, as the error page the visitor sees.

use axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use super::Html;
use crate::store::StoreError;

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
        let mut response = Html { status, html, set_cookie: None }.into_response();
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
