//! HTTP handlers for the OAuth endpoints: read the request, call the rules, write the
//! answer. Nothing here decides anything.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::client_auth::{self, authorization_header};
use super::error::no_store;
use super::introspect::{self, CallerRejected};
use super::{device, grant, revoke, EndpointError, OAuthError, Params, MAX_BODY_BYTES};
use crate::app::{paths, route_both, AppState};
use crate::edge::ClientAddr;
use crate::store::AuditKind;

pub fn router(allowed_origins: &[String]) -> Router<AppState> {
    let browser_facing = route_both(Router::new(), paths::TOKEN, post(token));
    let browser_facing = route_both(browser_facing, paths::REVOKE, post(revoke_token));
    let router = Router::new().merge(cors(browser_facing, allowed_origins));
    let router = route_both(router, paths::DEVICE_AUTHORIZATION, post(device_authorization));
    route_both(router, paths::INTROSPECT, get(introspect).post(introspect))
        // One byte over our own limit, so `Params` sees oversized bodies and answers
        // with an OAuth error rather than axum's plain 413.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1))
}

/// Browser apps (public clients) call the token and revocation endpoints from their own
/// origin; only the configured origins may read the answers. With none configured there
/// is nothing to allow, so there is no CORS layer: a preflight gets 405 like any other
/// unsupported method, and requests skip the layer's per-request work (it is cloned
/// with the route and adds three `Vary` values to every answer: about 5% of a
/// client-credentials issuance's instructions, measured with callgrind).
fn cors(routes: Router<AppState>, allowed_origins: &[String]) -> Router<AppState> {
    let origins: Vec<HeaderValue> = allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return routes;
    }
    routes.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE]),
    )
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
    let result = async {
        let params = body_params(&uri, &headers, body)?;
        let authorization = authorization_header(&headers)?;
        let ctx = state.grant_context_for(client.ip);
        grant::exchange(&ctx, authorization, &params).await
    }
    .await;
    match result {
        Ok(answer) => json_no_store(answer),
        Err(error) => error.into_response(),
    }
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
        let app = client_auth::authenticate(state.store.as_ref(), credentials).await?;
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
    let result: Result<(), EndpointError> = async {
        let params = body_params(&uri, &headers, body)?;
        let credentials = client_auth::credentials(authorization_header(&headers)?, &params)?;
        let app = client_auth::authenticate(state.store.as_ref(), credentials).await?;
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
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
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
        match introspect::authorize_caller(state.store.as_ref(), &state.verifier, authorization, &params).await {
            Ok(()) => {}
            Err(CallerRejected::Client(e)) => return Ok(Err(e.into_response())),
            Err(CallerRejected::Bearer(e)) => return Ok(Err(e.into_response())),
        }
        introspect::introspect(&state.introspection, &params).await.map(Ok)
    }
    .await;
    match result {
        Ok(Ok(answer)) => json_no_store(answer),
        Ok(Err(rejection)) => rejection,
        Err::<_, EndpointError>(error) => error.into_response(),
    }
}
