//! `/o/playground/`: try the authorization code flow with PKCE against one of your applications.

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
