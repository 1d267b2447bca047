//! `/o/authorized_tokens/`: the applications the user has granted access to, and taking it back.

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
