//! The route table: every feature's routes merged, and the layers around them.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use tower_http::trace::TraceLayer;

use super::edge::EdgeLayer;
use super::AppState;
use crate::oauth;
use crate::oidc;
use crate::pages;
use crate::paths;
use crate::resource;

/// Adds `route` at `path` and, for paths that end in `/`, at the path without it:
/// answered directly, not redirected, since a redirected POST loses its body.
pub(crate) fn route_both<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    path: &str,
    route: axum::routing::MethodRouter<S>,
) -> Router<S> {
    match path.strip_suffix('/') {
        Some(bare) if !bare.is_empty() => router.route(path, route.clone()).route(bare, route),
        _ => router.route(path, route),
    }
}

/// The whole application, for any state type of a host's router it is merged into.
/// Under a `base` path, every `Location` it answers with gets that path in front. A
/// host mounts it with [`Provider::router`](crate::provider::Provider::router); the
/// standalone server hands it to [`serve`](super::server::serve).
pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    build(state, false)
}

/// The standalone server's application: [`router`], and the home page at `/`, which a
/// host that mounts the provider keeps for its own.
pub(crate) fn standalone_router(state: AppState) -> Router {
    build(state, true)
}

fn build<S: Clone + Send + Sync + 'static>(state: AppState, home: bool) -> Router<S> {
    let base = state.base.clone();
    let metrics = state.metrics.clone();
    let proxies = state.config.server.trusted_proxies.clone();
    let scrape = get(super::metrics::scrape).with_state(state.clone());
    let limits = state.config.limits.clone();
    let cors = oauth::cors::Cors::new(state.store.clone(), &state.config.oauth2.allowed_origins);
    let openid = state.config.oidc.enabled;
    let router = Router::new()
        .merge(oauth::endpoints::router(&cors))
        .merge(resource::router(&state))
        .merge(oidc::router(openid, &cors))
        .merge(pages::router(openid))
        .route(paths::HEALTHZ, get(|| async { "ok" }))
        .route(paths::READYZ, get(ready));
    let router = if home { router.route(paths::HOME, get(pages::home::page)) } else { router };
    let router = router
        // No request to this server needs a large body; refuse big ones before reading.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
        .layer(
            // Log method and path only: query strings can carry codes and tokens. At
            // DEBUG: the log formatter renders a span's fields when it opens, which at
            // INFO costs a noticeable share of a cheap request's CPU time, for context
            // that only the rare error logged inside a handler would use.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        );
    // Inside the metrics layer, so requests shed or timed out are counted.
    let router = super::limits::guard(router, &limits)
        // Outermost, so the time is all the server spends on a request. A layer added
        // with `Router::layer` runs after routing: the matched route is known.
        .layer(metrics.layer())
        // Added after the layers, so scrapes are not counted among the requests.
        .route(paths::METRICS, scrape)
        // Last, so that every answer has the security headers, scrapes and the
        // fallback's 404s included, and every handler the same idea of the client.
        .layer(EdgeLayer::new(proxies));
    if base.is_empty() {
        router
    } else {
        router.layer(axum::middleware::map_response(move |response| prefix_location(response, base.clone())))
    }
}

/// Puts `base` in front of a `Location` that is a path on this server (`/…`, not
/// `//host/…`): handlers redirect within the provider's own paths.
async fn prefix_location(mut response: axum::response::Response, base: Arc<str>) -> axum::response::Response {
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
    if let Some(path) = location.filter(|l| l.starts_with('/') && !l.starts_with("//")) {
        if let Ok(value) = http::HeaderValue::from_str(&format!("{base}{path}")) {
            response.headers_mut().insert(http::header::LOCATION, value);
        }
    }
    response
}

/// `GET /readyz`: ready when the database answers.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
