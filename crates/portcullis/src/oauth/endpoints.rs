//! HTTP handlers for the OAuth endpoints: read the request, call the rules, write the
//! answer. Nothing here decides anything.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, Method, StatusCode, Uri};

use super::client_auth::{self, authorization_header, Authorization};
use super::cors::{self, Cors};
use super::error::no_store;
use super::introspect::{self, CallerRejected};
use super::{device, grant, revoke, EndpointError, OAuthError, Params, MAX_BODY_BYTES};
use crate::http::edge::ClientAddr;
use crate::http::{route_both, AppState};
use crate::paths;
use crate::store::AuditKind;

pub fn router(cors: &Arc<Cors>) -> Router<AppState> {
    // Browser apps (public clients) call the token and revocation endpoints from their
    // own origin: see `cors` for which origins may.
    let browser_facing = route_both(Router::new(), paths::TOKEN, post(token));
    let browser_facing = route_both(browser_facing, paths::REVOKE, post(revoke_token));
    let router = Router::new().merge(browser_facing.layer(cors.layer("POST")));
    let router = route_both(router, paths::DEVICE_AUTHORIZATION, post(device_authorization));
    route_both(router, paths::INTROSPECT, get(introspect).post(introspect))
        // One byte over our own limit, so `Params` sees oversized bodies and answers
        // with an OAuth error rather than axum's plain 413.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1))
}

/// The client a request claims to be, for CORS (`cors::ForClient`): its answer,
/// success or error, is readable only from that client's origins. Claimed, not proven:
/// the `Origin` header, which a page cannot forge, is what the check rests on.
fn claimed_client<'a>(authorization: &'a Authorization, params: &'a Params) -> Option<&'a str> {
    match authorization {
        Authorization::Basic(credentials) => Some(&credentials.client_id),
        Authorization::Bearer(_) => None,
        Authorization::None => params.get("client_id"),
    }
}

/// RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control"
/// response header field [RFC2616] with a value of "no-store" in any response
/// containing tokens, credentials, or other sensitive information".
fn json_no_store(answer: impl serde::Serialize) -> Response {
    let mut response = Json(answer).into_response();
    no_store(&mut response);
    response
}

/// The parameters of a POST to an OAuth endpoint, which come in its body and nowhere
/// else. RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request URI",
/// and the same goes for what else these requests carry (passwords, codes, tokens):
/// URIs end up in logs and browser histories. A request that puts anything in the query
/// string is refused, rather than served with the query quietly ignored (which would
/// leave a client that sends its secret there none the wiser).
fn body_params(uri: &Uri, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Params, OAuthError> {
    if uri.query().is_some_and(|query| !query.is_empty()) {
        return Err(OAuthError::invalid_request("parameters go in the request body, not in the URI"));
    }
    let body = body.map_err(|_| OAuthError::invalid_request("the request body is too large or unreadable"))?;
    Params::from_body(headers, &body)
}

/// The parameters of `GET /o/introspect/`, from the query string, which may not carry a
/// client secret (RFC 6749 §2.3.1); callers authenticate with HTTP Basic there.
fn query_params(uri: &Uri) -> Result<Params, OAuthError> {
    let params = Params::from_query(uri.query())?;
    if params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request("client credentials may not be sent in the URI"));
    }
    Ok(params)
}

/// `POST /o/token/` (RFC 6749 §3.2).
async fn token(
    State(state): State<AppState>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut for_client = None;
    let result = async {
        let params = body_params(&uri, &headers, body)?;
        let authorization = authorization_header(&headers)?;
        if cors::cross_origin(&headers) {
            for_client = claimed_client(&authorization, &params).map(str::to_owned);
        }
        let ctx = state.grant_context_for(client.ip);
        let outcome = grant::exchange(&ctx, authorization, params).await;
        state.records().exchanged(&ctx, outcome).await
    }
    .await;
    let mut response = match result {
        Ok(answer) => json_no_store(answer),
        Err(error) => error.into_response(),
    };
    cors::for_client(&mut response, for_client);
    response
}

/// `POST /o/device-authorization/` (RFC 8628 §3.1, §3.2).
async fn device_authorization(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result: Result<_, EndpointError> = async {
        let params = body_params(&uri, &headers, body)?;
        // §3.1: "The client authentication requirements of Section 3.2.1 of [RFC6749]
        // apply to requests on this endpoint".
        let credentials = client_auth::credentials(authorization_header(&headers)?, &params)?;
        let app = client_auth::authenticate(state.store.as_ref(), credentials.as_ref()).await?;
        let verification_uri = state.config.public_url(paths::DEVICE);
        device::start(&state.grant_context(), &app, &params, &verification_uri).await
    }
    .await;
    match result {
        Ok(answer) => json_no_store(answer),
        Err(error) => error.into_response(),
    }
}

/// `POST /o/revoke_token/` (RFC 7009 §2).
async fn revoke_token(
    State(state): State<AppState>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut for_client = None;
    let result: Result<(), EndpointError> = async {
        let params = body_params(&uri, &headers, body)?;
        let authorization = authorization_header(&headers)?;
        if cors::cross_origin(&headers) {
            for_client = claimed_client(&authorization, &params).map(str::to_owned);
        }
        let credentials = client_auth::credentials(authorization, &params)?;
        let app = client_auth::authenticate(state.store.as_ref(), credentials.as_ref()).await?;
        let token = params.require("token")?;
        let now = state.clock.now();
        let revoked = revoke::revoke(state.store.as_ref(), &app, token, params.get("token_type_hint"), now).await?;
        // Only what was revoked: an unknown token, or another client's, changed nothing.
        if let Some(revoked) = revoked {
            let ctx = state.grant_context_for(client.ip);
            state
                .audit
                .record(ctx.event(AuditKind::TokenRevoked, &app, revoked.user_id).detail(revoked.describe()))
                .await;
        }
        Ok(())
    }
    .await;
    let mut response = match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    };
    cors::for_client(&mut response, for_client);
    response
}

/// `GET` or `POST /o/introspect/` (RFC 7662 §2).
async fn introspect(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = if method == Method::GET { query_params(&uri) } else { body_params(&uri, &headers, body) };
    let result = async {
        let params = params?;
        let authorization = authorization_header(&headers)?;
        let caller =
            match introspect::authorize_caller(state.store.as_ref(), &state.verifier, authorization, &params).await {
                Ok(caller) => caller,
                Err(CallerRejected::Client(e)) => return Ok(Err(e.into_response())),
                Err(CallerRejected::Bearer(e)) => return Ok(Err(e.into_response())),
            };
        let policy = state.config.oauth2.introspection_policy;
        introspect::introspect(&state.introspection, policy, &caller, &params).await.map(Ok)
    }
    .await;
    match result {
        Ok(Ok(answer)) => json_no_store(answer),
        Ok(Err(rejection)) => rejection,
        Err::<_, EndpointError>(error) => error.into_response(),
    }
}
