//! `app::serve` as a host application or a test drives it.

use std::time::Duration;

use portcullis::app;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![dropping_the_serve_future_stops_the_server]
}

/// A host that aborts the task running `serve` (or drops its future) expects the port
/// closed: the server must not live on in a task of its own.
async fn dropping_the_serve_future_stops_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let state =
        app::AppState::new(app.store.clone(), portcullis::config::Config::defaults(), app.clock.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let task = tokio::spawn(app::serve(listener, app::router(state), std::future::pending()));
    // A new connection for each request, so that no kept-alive one hides the answer.
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    assert_eq!(fresh().get(&url).send().await.unwrap().status(), StatusCode::OK);
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(fresh().get(&url).send().await.is_err(), "the port still answers after the serve task was aborted");
}
