//! The example API as an RFC 9728 protected resource: its metadata document, the
//! challenges that point to it, and a client that starts from nothing but the API's URL.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::Router;
use portcullis::config::Config;
use portcullis::provider::Provider;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{fresh_store, read, Answer, Backend, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        rfc9728_api_metadata_names_the_resource_and_its_authorization_server,
        rfc9728_every_api_challenge_names_the_metadata_and_the_scopes_needed,
        a_client_that_knows_only_the_api_finds_the_authorization_server,
        api_metadata_sits_at_the_hosts_root_below_a_prefix,
    ]
}

/// The test server's issuer is the default, `http://127.0.0.1:8000/o`, while the server
/// listens on a port of its own: the URLs it names are fetched from where it is.
const ORIGIN: &str = "http://127.0.0.1:8000";
const ISSUER: &str = "http://127.0.0.1:8000/o";
/// The example API's resource URI: `{base}/api`.
const RESOURCE: &str = "http://127.0.0.1:8000/api";
/// RFC 9728 §3.1: the well-known string between the host and the path `/api`.
const METADATA_URL: &str = "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api";

/// `url`, one of the test server's public URLs, where the test server really listens.
fn on_test_server(app: &TestApp, url: &str) -> String {
    app.url(url.strip_prefix(ORIGIN).unwrap_or_else(|| panic!("{url} is not below {ORIGIN}")))
}

async fn get(app: &TestApp, url: &str) -> Answer {
    read(app.http.get(url).send().await.unwrap()).await
}

/// The answer's `Bearer` challenge, as `http-auth` (a client-side parser of RFC 7235
/// challenges) reads it: auth-param names lowercased, values unquoted.
pub fn bearer_challenge(answer: &Answer) -> HashMap<String, String> {
    let header = answer.header("www-authenticate").unwrap_or_else(|| panic!("no challenge: {}", answer.text));
    let challenges = http_auth::parse_challenges(header).unwrap_or_else(|e| panic!("{header:?}: {e}"));
    assert_eq!(challenges.len(), 1, "{header}");
    // RFC 7235 §2.1: the scheme is case-insensitive.
    assert!(challenges[0].scheme.eq_ignore_ascii_case("bearer"), "{header}");
    challenges[0].params.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.to_unescaped())).collect()
}

async fn rfc9728_api_metadata_names_the_resource_and_its_authorization_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = get(&app, &app.url("/.well-known/oauth-protected-resource/api")).await;
    // RFC 9728 §3.2: "A successful response MUST use the 200 OK HTTP status code and
    // return a JSON object using the application/json content type".
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("public, max-age=3600"));
    // RFC 9728 §2: `resource` is REQUIRED; the rest names who issues the API's tokens,
    // for which scopes, and how they are sent (the Authorization header alone).
    assert_eq!(
        answer.json(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["read", "write", "groups"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Portcullis example API",
        })
    );
    // The authorization server named is this one: RFC 8414 §3's metadata at its issuer
    // names the same issuer.
    let server = get(&app, &app.url("/.well-known/oauth-authorization-server/o")).await.json();
    assert_eq!(server["issuer"], ISSUER);

    // A server that does not offer `groups` does not advertise it.
    let app = TestApp::spawn_with(backend, |config| {
        config.oauth2.scopes.remove("groups");
    })
    .await;
    let metadata = get(&app, &app.url("/.well-known/oauth-protected-resource/api")).await.json();
    assert_eq!(metadata["scopes_supported"], json!(["read", "write"]));
}

async fn rfc9728_every_api_challenge_names_the_metadata_and_the_scopes_needed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;

    // No token: 401, naming the metadata (RFC 9728 §5.1, "resource_metadata: The URL of
    // the protected resource metadata") and what the route needs (RFC 6750 §3: "scope
    // ... indicating the required scope of the access token for accessing the requested
    // resource"). `/api/hello/` takes any token, so it names no scope.
    let routes = [
        ("GET", "/api/me/", Some("read")),
        ("PATCH", "/api/me/", Some("write")),
        ("GET", "/api/groups/", Some("groups")),
        ("GET", "/api/hello/", None),
    ];
    for (method, path, scope) in routes {
        let request = app.http.request(method.parse().unwrap(), app.url(path));
        let answer = read(request.send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let challenge = bearer_challenge(&answer);
        assert_eq!(challenge["resource_metadata"], METADATA_URL, "{method} {path}");
        assert_eq!(challenge.get("scope").map(String::as_str), scope, "{method} {path}");
        assert_eq!(challenge["realm"], "api");
        // RFC 6750 §3.1: "If the request lacks any authentication information ..., the
        // resource server SHOULD NOT include an error code".
        assert!(!challenge.contains_key("error"), "{method} {path}: {challenge:?}");
    }

    // RFC 6750 §3.1 invalid_token: "The access token provided is expired, revoked,
    // malformed, or invalid for other reasons."
    let answer = app.get_with_token("/api/me/", "not-a-real-token").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&answer);
    assert_eq!(challenge["error"], "invalid_token");
    assert_eq!((challenge["scope"].as_str(), challenge["resource_metadata"].as_str()), ("read", METADATA_URL));

    // RFC 6750 §3.1 insufficient_scope: 403, with "the scope necessary to access the
    // protected resource": every scope the request needs, and the metadata again.
    let token = app.password_token(&client, "alice", Some("read")).await;
    let token = token["access_token"].as_str().unwrap();
    let answer = app.get_with_token("/api/groups/", token).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let challenge = bearer_challenge(&answer);
    assert_eq!(challenge["error"], "insufficient_scope");
    assert_eq!((challenge["scope"].as_str(), challenge["resource_metadata"].as_str()), ("groups", METADATA_URL));
    // A step up: the client asks for what it had and what the challenge names, and
    // gets through with the new token, which still does what the old one did.
    let wider = format!("read {}", challenge["scope"]);
    let wider = app.password_token(&client, "alice", Some(&wider)).await;
    let wider = wider["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/groups/", wider).await, StatusCode::OK);
    assert_eq!(app.status_with_token("/api/me/", wider).await, StatusCode::OK);
}

async fn a_client_that_knows_only_the_api_finds_the_authorization_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let api = format!("{ORIGIN}/api/me/");

    // 1. The API, called bare, says where its metadata is and what to ask for.
    let first = get(&app, &on_test_server(&app, &api)).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&first);

    // 2. The metadata names the resource and its authorization server. RFC 9728 §3.3:
    // the resource is that of the URL called (here its prefix, as the MCP SDKs check).
    let metadata = get(&app, &on_test_server(&app, &challenge["resource_metadata"])).await;
    assert_eq!(metadata.status, StatusCode::OK);
    let metadata = metadata.json();
    let resource = metadata["resource"].as_str().unwrap();
    assert!(api.starts_with(&format!("{resource}/")), "{api} is below {resource}");
    let issuer = metadata["authorization_servers"][0].as_str().unwrap();

    // 3. The authorization server's own metadata (RFC 8414 §3: the well-known string
    // between the host and the issuer's path) gives the token endpoint.
    let issuer_path = issuer.strip_prefix(ORIGIN).unwrap();
    let server = get(&app, &app.url(&format!("/.well-known/oauth-authorization-server{issuer_path}"))).await.json();
    assert_eq!(server["issuer"], issuer, "RFC 8414 §3.3: the issuer it was asked about");
    let token_endpoint = server["token_endpoint"].as_str().unwrap();

    // 4. A token for the scope the challenge named, bound to this API (RFC 8707), and
    // the call goes through.
    let form = [("grant_type", "password"), ("username", "alice"), ("password", crate::helpers::PASSWORD)];
    let scope = [("scope", challenge["scope"].as_str()), ("resource", resource)];
    let request =
        app.http.post(on_test_server(&app, token_endpoint)).basic_auth(&client.client_id, client.secret.as_deref());
    let answer = read(request.form(&[&form[..], &scope[..]].concat()).send().await.unwrap()).await;
    let token = answer.assert_token();
    let token = token["access_token"].as_str().unwrap();
    let me = read(app.http.get(on_test_server(&app, &api)).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["username"], "alice");
}

/// `GET path` on `router`, as status and JSON body (or `null`) and challenge.
async fn call(router: &Router, path: &str) -> (StatusCode, Value, Option<String>) {
    let response = router.clone().oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null), challenge)
}

async fn api_metadata_sits_at_the_hosts_root_below_a_prefix(backend: Backend) {
    // A host mounts the provider at `/auth`: the API is the resource `…/auth/api`, and
    // RFC 9728 §3.1 puts its metadata at the host's root, not below the prefix.
    let (store, _guard) = fresh_store(backend).await;
    let mut config = Config::defaults();
    config.oidc.issuer = "https://shop.example/auth/o".into();
    config.oidc.enabled = false; // no signing keys needed here
    let provider = Provider::builder(config, store).prefix("/auth").build().await.unwrap();
    let router: Router = provider.router();
    let (status, metadata, _) = call(&router, "/.well-known/oauth-protected-resource/auth/api").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(metadata["resource"], "https://shop.example/auth/api");
    assert_eq!(metadata["authorization_servers"], json!(["https://shop.example/auth/o"]));
    let (status, _, challenge) = call(&router, "/auth/api/hello/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let metadata_url = "https://shop.example/.well-known/oauth-protected-resource/auth/api";
    assert_eq!(challenge, Some(format!("Bearer realm=\"api\", resource_metadata=\"{metadata_url}\"")));

    // A standalone server whose public base has a path (behind a proxy that strips it)
    // answers at that path too, for a proxy that passes `/.well-known/…` on as it is.
    let app = TestApp::spawn_with(backend, |config| config.oidc.issuer = "http://127.0.0.1:8000/auth/o".into()).await;
    for path in ["/.well-known/oauth-protected-resource/auth/api", "/.well-known/oauth-protected-resource/api"] {
        let answer = get(&app, &app.url(path)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json()["resource"], "http://127.0.0.1:8000/auth/api", "{path}");
    }
}
