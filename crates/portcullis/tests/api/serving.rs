//! `serve` as a host application or a test drives it.

use std::time::Duration;

use portcullis::http::server::serve;
use portcullis::http::{router, AppState};
use reqwest::StatusCode;

use crate::helpers::{fresh_database, Backend, Instance, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![dropping_the_serve_future_stops_the_server, the_root_says_what_this_server_is]
}

/// A host that aborts the task running `serve` (or drops its future) expects the port
/// closed: the server must not live on in a task of its own.
async fn dropping_the_serve_future_stops_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let state = AppState::new(app.store.clone(), portcullis::config::Config::defaults(), app.clock.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let task = tokio::spawn(serve(listener, router(state), std::future::pending()));
    // A new connection for each request, so that no kept-alive one hides the answer.
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    assert_eq!(fresh().get(&url).send().await.unwrap().status(), StatusCode::OK);
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(fresh().get(&url).send().await.is_err(), "the port still answers after the serve task was aborted");
}

/// `GET /` is the first thing a person opening the server's address sees: a page that
/// says what the server is and links the login, the applications page and the
/// discovery document, and that redirects nowhere. A host mounting the provider keeps
/// its own `/`.
async fn the_root_says_what_this_server_is(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let server = Instance::start(&url, &[]).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.headers().get("location").is_none());
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = answer.text().await.unwrap();
    assert!(html.contains("authorization server"), "{html}");
    for link in
        ["href=\"/accounts/login/\"", "href=\"/o/applications/\"", "href=\"/o/.well-known/openid-configuration\""]
    {
        assert!(html.contains(link), "{link} missing from {html}");
    }
    // The discovery document it links answers.
    let discovery = http.get(server.url("/o/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);
    drop(server);

    // Without OpenID Connect there is no OpenID discovery: RFC 8414's metadata instead.
    let plain = Instance::start(&url, &[("PORTCULLIS_OIDC_ENABLED", "false")]).await;
    let html = http.get(plain.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("href=\"/.well-known/oauth-authorization-server/o\""), "{html}");
    let metadata = http.get(plain.url("/.well-known/oauth-authorization-server/o")).send().await.unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);

    // The library's router leaves `/` to the host.
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.http.get(app.url("/")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
