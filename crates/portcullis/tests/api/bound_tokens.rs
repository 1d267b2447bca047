//! Tokens bound to the API they are for (RFC 8707), end to end: a real Portcullis issues
//! a token for resource A, and each kind of verifier of the kit (the provider's store,
//! introspection, JWT) takes it at A and refuses it at B.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::Router;
use portcullis::resource::StoreVerifier;
use portcullis_axum::{
    require_scopes, IntrospectionVerifier, JwtVerifier, ProtectedResource, Scoped, TokenVerifier, Verifier,
};
use reqwest::StatusCode;

use crate::helpers::{read, Answer, Backend, Client, TestApp};
use crate::protected_resource::bearer_challenge;

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        store_verified_apis_take_only_tokens_bound_to_them,
        introspecting_apis_take_only_tokens_bound_to_them,
        jwt_verifying_apis_take_only_tokens_bound_to_them,
    ]
}

/// The server's own example API (default issuer): `{base}/api`.
const OWN_API: &str = "http://127.0.0.1:8000/api";
const PHOTOS: &str = "https://photos.example/api";
const BILLING: &str = "https://billing.example/api";
const ISSUER: &str = "http://127.0.0.1:8000/o";

require_scopes!(Read = ["read"]);

/// An API of its own, on its own port, guarding `resource` with `verifier`; returns its
/// URL.
async fn api(verifier: impl Verifier, resource: &str, strict: bool) -> String {
    let resource = ProtectedResource::new(resource).unwrap().authorization_server(ISSUER).strict_audience(strict);
    let verifier = TokenVerifier::new(Arc::new(verifier), "api").protecting(resource.clone());
    let router = Router::new()
        .route("/read", get(|Scoped(token, ..): Scoped<Read>| async move { token.client_id }))
        .with_state(verifier)
        .merge(resource.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

async fn call(url: &str, token: &str) -> Answer {
    read(reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap()).await
}

/// An access token for alice with scope `read`, bound to `resources` (RFC 8707 §2:
/// `resource` repeated, one per resource; none: a token bound to none).
async fn token_for(app: &TestApp, client: &Client, resources: &[&str]) -> String {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", crate::helpers::PASSWORD),
        ("scope", "read"),
    ];
    form.extend(resources.iter().map(|resource| ("resource", *resource)));
    let answer = app.token(client, &form).await.assert_token();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Asserts the answer is RFC 6750's `invalid_token`, naming `resource`'s metadata.
#[track_caller]
fn assert_refused(answer: &Answer, resource: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    let challenge = bearer_challenge(answer);
    assert_eq!(challenge["error"], "invalid_token");
    assert_eq!(challenge["resource_metadata"], portcullis_axum::resource::metadata_url(resource));
}

async fn store_verified_apis_take_only_tokens_bound_to_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    // Beside the server's own API, another in the same process, on the same store.
    let photos = api(StoreVerifier::new(app.store.clone(), app.clock.clone()), PHOTOS, false).await;
    let photos = format!("{photos}/read");

    let for_own = token_for(&app, &client, &[OWN_API]).await;
    let for_photos = token_for(&app, &client, &[PHOTOS]).await;
    let for_both = token_for(&app, &client, &[OWN_API, PHOTOS]).await;
    let unbound = token_for(&app, &client, &[]).await;

    assert_eq!(app.status_with_token("/api/me/", &for_own).await, StatusCode::OK);
    assert_refused(&app.get_with_token("/api/me/", &for_photos).await, OWN_API);
    assert_eq!(call(&photos, &for_photos).await.status, StatusCode::OK);
    assert_refused(&call(&photos, &for_own).await, PHOTOS);
    // A token for both is taken by both; one bound to none by both, neither being strict.
    for token in [&for_both, &unbound] {
        assert_eq!(app.status_with_token("/api/me/", token).await, StatusCode::OK);
        assert_eq!(call(&photos, token).await.status, StatusCode::OK);
    }
    let strict = api(StoreVerifier::new(app.store.clone(), app.clock.clone()), PHOTOS, true).await;
    assert_refused(&call(&format!("{strict}/read"), &unbound).await, PHOTOS);
    assert_eq!(call(&format!("{strict}/read"), &for_photos).await.status, StatusCode::OK);
}

async fn introspecting_apis_take_only_tokens_bound_to_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    let api_client = app.confidential().await;
    let introspection = || {
        let secret = api_client.secret.clone().unwrap();
        IntrospectionVerifier::new(app.url("/o/introspect/"), api_client.client_id.clone(), secret)
    };
    let photos = format!("{}/read", api(introspection(), PHOTOS, false).await);
    let billing = format!("{}/read", api(introspection(), BILLING, false).await);

    let for_photos = token_for(&app, &client, &[PHOTOS]).await;
    // RFC 7662 §2.2: the answer's `aud` names the resource.
    assert_eq!(app.introspect(&api_client, &for_photos).await["aud"], PHOTOS);
    let answer = call(&photos, &for_photos).await;
    assert_eq!((answer.status, answer.text.as_str()), (StatusCode::OK, client.client_id.as_str()));
    assert_refused(&call(&billing, &for_photos).await, BILLING);

    let for_billing = token_for(&app, &client, &[BILLING]).await;
    assert_eq!(call(&billing, &for_billing).await.status, StatusCode::OK);
    assert_refused(&call(&photos, &for_billing).await, PHOTOS);

    let unbound = token_for(&app, &client, &[]).await;
    assert!(app.introspect(&api_client, &unbound).await.get("aud").is_none(), "bound to none: no aud");
    assert_eq!(call(&photos, &unbound).await.status, StatusCode::OK);
    let strict = format!("{}/read", api(introspection(), PHOTOS, true).await);
    assert_refused(&call(&strict, &unbound).await, PHOTOS);
}

async fn jwt_verifying_apis_take_only_tokens_bound_to_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The verifier checks `exp` by this host's clock: issue at the real time.
    let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    if real > app.clock_now() {
        app.clock.advance(real - app.clock_now());
    }
    app.user("alice").await;
    let client = app.jwt_client("ES256").await;
    // Each API checks JWTs for its own resource URI: RFC 9068 §4, "the "aud" claim
    // contains a resource indicator value corresponding to an identifier the resource
    // server expects for itself".
    let jwt = |resource: &str| JwtVerifier::new(app.url("/o/.well-known/jwks.json"), ISSUER, resource);
    let photos = format!("{}/read", api(jwt(PHOTOS), PHOTOS, false).await);
    let billing = format!("{}/read", api(jwt(BILLING), BILLING, false).await);

    let for_photos = token_for(&app, &client, &[PHOTOS]).await;
    assert_eq!(call(&photos, &for_photos).await.status, StatusCode::OK);
    assert_refused(&call(&billing, &for_photos).await, BILLING);
    let for_both = token_for(&app, &client, &[PHOTOS, BILLING]).await;
    assert_eq!(call(&photos, &for_both).await.status, StatusCode::OK);
    assert_eq!(call(&billing, &for_both).await.status, StatusCode::OK);
    // A JWT bound to no resource carries the server's default `aud` (its issuer), which
    // names neither API.
    let unbound = token_for(&app, &client, &[]).await;
    assert_refused(&call(&photos, &unbound).await, PHOTOS);
}
