//! HTTP handlers for discovery, the JWKS and UserInfo: thin shells around `discovery`,
//! `keys` and `claims`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};
use portcullis_axum::error::AuthErrorKind;
use portcullis_axum::{require_scopes, AuthError, Scoped};
use serde_json::json;

use super::claims::user_claims;
use super::discovery;
use crate::hooks::{with_extra, ClaimsFor, ClaimsTarget};
use crate::http::{route_both, AppState, API_REALM};
use crate::oauth::cors::{self, Cors, CrossOrigin};
use crate::paths;

require_scopes!(pub OpenidScope = ["openid"]);

/// The OpenID Connect endpoints when `openid` is on (its logout page is among the
/// pages); RFC 8414's metadata either way.
/// UserInfo answers browsers on the origins `cors` allows (Core §5.3: the client calls
/// it with its access token, from a browser too).
pub fn router(openid: bool, cors: &Arc<Cors>) -> Router<AppState> {
    let router = Router::new()
        .route(paths::OAUTH_METADATA, get(oauth_metadata))
        .route(paths::OAUTH_METADATA_ROOT, get(oauth_metadata));
    if !openid {
        return router;
    }
    let router = router
        .route(paths::OPENID_CONFIGURATION, get(openid_configuration))
        .route(paths::OPENID_CONFIGURATION_ROOT, get(openid_configuration))
        .route(paths::JWKS, get(jwks));
    let userinfo = route_both(Router::new(), paths::USERINFO, get(userinfo).post(userinfo));
    router.merge(userinfo.layer(cors.layer("GET, POST")))
}

/// Metadata changes only with the settings, that is with a restart.
fn cached_for(seconds: u32, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    response
}

async fn openid_configuration(State(state): State<AppState>) -> Response {
    cached_for(3600, Json(discovery::metadata(&state.config, true)))
}

async fn oauth_metadata(State(state): State<AppState>) -> Response {
    cached_for(3600, Json(discovery::metadata(&state.config, state.config.oidc.enabled)))
}

/// `GET /o/.well-known/jwks.json`. Cached briefly: a rotation signs with the new key at
/// once, and relying parties that do not fetch the set again on an unknown `kid` would
/// refuse new tokens for as long as they keep the old set.
async fn jwks(State(state): State<AppState>) -> Response {
    match state.keys.jwks(state.clock.now()).await {
        Ok(set) => cached_for(60, Json(set)),
        Err(error) => {
            tracing::error!(%error, "cannot read the signing keys");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "temporarily_unavailable"}))).into_response()
        }
    }
}

/// `GET` or `POST /o/userinfo/` (OpenID Connect Core §5.3): the claims the token's
/// scopes allow, for a bearer token with scope `openid`.
async fn userinfo(
    State(state): State<AppState>,
    CrossOrigin(cross_origin): CrossOrigin,
    Scoped(token, ..): Scoped<OpenidScope>,
) -> Response {
    let mut response = userinfo_answer(&state, &token).await;
    // Readable only from the origins of the client the token was issued to.
    cors::for_client(&mut response, cross_origin.then(|| token.client_id.clone()));
    response
}

async fn userinfo_answer(state: &AppState, token: &portcullis_axum::TokenInfo) -> Response {
    let invalid = || AuthError::new(AuthErrorKind::InvalidToken, API_REALM).into_response();
    // A client-credentials token acts for nobody: there is no one to describe.
    let Some(id) = token.user_id.as_deref().and_then(|id| id.parse::<i64>().ok()) else { return invalid() };
    match userinfo_claims(state, token, id).await {
        Ok(Some(claims)) => {
            let mut response = Json(claims).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(_) => invalid(),
        Err(error) => {
            tracing::error!(%error, "userinfo failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "temporarily_unavailable"}))).into_response()
        }
    }
}

/// UserInfo's claims for the active user `id`, with the host's extra claims; `None`
/// when the user is gone or inactive.
async fn userinfo_claims(
    state: &AppState,
    token: &portcullis_axum::TokenInfo,
    id: i64,
) -> Result<Option<serde_json::Value>, crate::store::StoreError> {
    let Some(account) = state.accounts.user(id).await? else { return Ok(None) };
    let client = token.client_id.as_str();
    let Some(app) = state.store.application_by_client_id(client).await? else { return Ok(None) };
    let user = crate::store::User::from(account);
    let target = ClaimsFor { target: ClaimsTarget::UserInfo, app: &app, user_id: Some(id), scope: &token.scope };
    let extra = state.hooks.extra_claims(target).await?;
    with_extra(&user_claims(&user, &token.scope), extra).map(Some)
}
