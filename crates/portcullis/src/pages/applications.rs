//! `/o/applications/`: the logged-in user's applications: list, register, detail, edit, delete.

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
