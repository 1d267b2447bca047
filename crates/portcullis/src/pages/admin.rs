//! `/admin/`: staff-only pages for users, applications and tokens.

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
