//! The kit's `IntrospectionVerifier`: a separate API process checks tokens at a running
//! Portcullis by RFC 7662 introspection, over real loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use portcullis_axum::{require_scopes, IntrospectionVerifier, Scoped, TokenVerifier};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![introspecting_api_checks_tokens_at_the_provider, introspection_cache_and_provider_down]
}

require_scopes!(Read = ["read"]);
require_scopes!(Write = ["write"]);

/// An API of its own, on its own port, guarded by the kit.
async fn api(verifier: IntrospectionVerifier) -> String {
    let state = TokenVerifier::new(Arc::new(verifier), "photos");
    let router = Router::new()
        .route("/read", get(|Scoped(token, ..): Scoped<Read>| async move { token.username.unwrap_or_default() }))
        .route("/write", get(|_: Scoped<Write>| async { "written" }))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

async fn call(api: &str, path: &str, token: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut request = reqwest::Client::new().get(format!("{api}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), challenge, response.text().await.unwrap())
}

async fn introspecting_api_checks_tokens_at_the_provider(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let api_client = app.confidential().await;
    let client = app.confidential().await;
    let verifier = IntrospectionVerifier::new(
        app.url("/o/introspect/"),
        api_client.client_id.clone(),
        api_client.secret.clone().unwrap(),
    )
    .max_age(Duration::ZERO);
    let api = api(verifier).await;
    let token = app.password_token(&client, "alice", Some("read")).await;
    let token = token["access_token"].as_str().unwrap();

    let (status, _, body) = call(&api, "/read", Some(token)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"), "the right scope gets through, as alice");
    // RFC 6750 §3.1: insufficient_scope is 403 and names the scope needed.
    let (status, challenge, _) = call(&api, "/write", Some(token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="photos", error="insufficient_scope", scope="write""#));
    let (status, challenge, _) = call(&api, "/read", Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    let (status, challenge, _) = call(&api, "/read", None).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(r#"Bearer realm="photos""#)));
    // With caching off, a revocation at the provider is refused at once.
    let revoked = app.post_form("/o/revoke_token/", Some(&client), &[("token", token)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(call(&api, "/read", Some(token)).await.0, StatusCode::UNAUTHORIZED);
}

async fn introspection_cache_and_provider_down(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let api_client = app.confidential().await;
    let client = app.confidential().await;
    let secret = api_client.secret.clone().unwrap();
    let cached = IntrospectionVerifier::new(app.url("/o/introspect/"), api_client.client_id.clone(), secret.clone())
        .max_age(Duration::from_secs(1));
    let api_cached = api(cached).await;
    let token = app.password_token(&client, "alice", Some("read")).await;
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(call(&api_cached, "/read", Some(token)).await.0, StatusCode::OK);
    app.post_form("/o/revoke_token/", Some(&client), &[("token", token)]).await;
    // The cached answer stands until its entry ends (max_age), then the revocation holds.
    assert_eq!(call(&api_cached, "/read", Some(token)).await.0, StatusCode::OK, "still cached");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(&api_cached, "/read", Some(token)).await.0, StatusCode::UNAUTHORIZED, "after max_age");

    let fresh = app.password_token(&client, "alice", Some("read")).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    // The provider unreachable (nothing listens), or refusing this API's credentials:
    // 503, never 401 or 500, since the token may be good.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = IntrospectionVerifier::new(format!("http://{closed}/o/introspect/"), "x", "y")
        .timeout(Duration::from_millis(500));
    let wrong_secret = IntrospectionVerifier::new(app.url("/o/introspect/"), api_client.client_id.clone(), "wrong");
    for verifier in [down, wrong_secret] {
        let api = api(verifier).await;
        let (status, _, _) = call(&api, "/read", Some(fresh)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
