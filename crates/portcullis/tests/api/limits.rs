//! Overload (issue 5, point 3): rate limits answer `429` with `Retry-After`, and the
//! server sheds what it cannot take on with `503` rather than queueing without end.

use std::time::{Duration, Instant};

use http::StatusCode;
use portcullis::store::GrantType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cases;
use crate::helpers::{Backend, Browser, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    cases![
        token_requests_over_a_clients_rate_get_429_with_retry_after,
        failed_password_grants_lock_the_account_everywhere,
        failures_from_one_address_lock_every_account_from_it,
        login_limits_of_zero_are_off,
        requests_beyond_the_concurrency_limit_are_shed_with_503,
        a_request_over_the_timeout_is_answered_503,
    ]
}

/// Cases that need PostgreSQL: another session can hold a lock the server waits on.
pub fn postgres_cases() -> Vec<(&'static str, crate::Case)> {
    cases![an_exhausted_pool_sheds_with_503_after_the_pool_timeout]
}

fn seconds(answer: &crate::helpers::Answer) -> u64 {
    answer.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no Retry-After: {answer:?}"))
}

async fn token_requests_over_a_clients_rate_get_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.token_requests_per_second = 1;
        c.limits.token_request_burst = 3;
    })
    .await;
    let client = app.confidential().await;
    let other = app.confidential().await;
    for _ in 0..3 {
        app.client_credentials(&client).await;
    }
    let tokens_before = app.store.count_live_tokens(app.clock_now()).await.unwrap();
    let refused = app.token(&client, &[("grant_type", "client_credentials")]).await;
    // RFC 6585 §4: "The 429 status code indicates that the user has sent too many
    // requests in a given amount of time" and "MAY include a Retry-After header
    // indicating how long to wait before making a new request."
    refused.assert_error(429, "temporarily_unavailable");
    let wait = seconds(&refused);
    assert!((1..=2).contains(&wait), "one request a second: {wait}");
    // RFC 6749 §5.1's no-store applies to every token endpoint answer.
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    let tokens_after = app.store.count_live_tokens(app.clock_now()).await.unwrap();
    assert_eq!(tokens_after, tokens_before, "refused: nothing issued");
    // The limit counts a client id whatever it presents: a wrong secret is refused
    // before it is checked, so guessing is as slow as asking.
    let guess = crate::helpers::Client { client_id: client.client_id.clone(), secret: Some("guess".into()) };
    app.token(&guess, &[("grant_type", "client_credentials")]).await.assert_error(429, "temporarily_unavailable");
    // Each client has its own allowance.
    app.client_credentials(&other).await;
    // After the wait the client is served again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    app.client_credentials(&client).await;
}

async fn failed_password_grants_lock_the_account_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    let wrong = [("grant_type", "password"), ("username", "alice"), ("password", "wrong")];
    for _ in 0..5 {
        app.token(&client, &wrong).await.assert_error(400, "invalid_grant");
    }
    // The right password is refused too while the account is locked: answering it
    // would tell a guesser which guess was right.
    let right = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)];
    let locked = app.token(&client, &right).await;
    locked.assert_error(429, "temporarily_unavailable");
    assert_eq!(seconds(&locked), 15 * 60);
    // The login page shares the count: guessing cannot move there.
    let browser = Browser::new(&app);
    let page = browser.submit("/accounts/login/", "/accounts/login/", &[("username", "alice"), ("password", PASSWORD)]);
    let page = page.await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(seconds(&page), 15 * 60);
    // Others are not locked out by alice's guesser.
    app.user("bob").await;
    app.password_token(&client, "bob", None).await;
    // Once the window has passed, alice logs in again; a success clears her count.
    app.clock.advance(15 * 60 + 1);
    app.password_token(&client, "alice", None).await;
}

async fn failures_from_one_address_lock_every_account_from_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.login_failures_per_address = 3).await;
    let client = app.confidential().await;
    for name in ["a1", "a2", "a3", "a4"] {
        app.user(name).await;
    }
    // One guess at each of three accounts: no account reaches its own limit of five.
    for name in ["a1", "a2", "a3"] {
        let wrong = [("grant_type", "password"), ("username", name), ("password", "wrong")];
        app.token(&client, &wrong).await.assert_error(400, "invalid_grant");
    }
    let right = [("grant_type", "password"), ("username", "a4"), ("password", PASSWORD)];
    app.token(&client, &right).await.assert_error(429, "temporarily_unavailable");
    let browser = Browser::new(&app);
    let page = browser.submit("/accounts/login/", "/accounts/login/", &[("username", "a4"), ("password", PASSWORD)]);
    assert_eq!(page.await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn login_limits_of_zero_are_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.login_failures_per_account = 0;
        c.limits.login_failures_per_address = 0;
    })
    .await;
    app.user("alice").await;
    let client = app.confidential().await;
    let wrong = [("grant_type", "password"), ("username", "alice"), ("password", "wrong")];
    for _ in 0..8 {
        app.token(&client, &wrong).await.assert_error(400, "invalid_grant");
    }
    // With both limits off nothing reads the count, so nothing is written to it.
    assert_eq!(app.store.login_failures("user:alice", 0).await.unwrap(), 0);
    // 0 is "no limit", as for the other limits: not "no login at all".
    app.password_token(&client, "alice", None).await;
    Browser::new(&app).login("alice", PASSWORD).await;
}

/// A request the server has started (its headers read) whose body has not all come:
/// it holds its place among the requests in flight until the rest is sent.
struct SlowRequest {
    stream: TcpStream,
}

const SLOW_BODY: &str = "grant_type=client_credentials&client_id=nobody";

impl SlowRequest {
    async fn start(app: &TestApp) -> Self {
        let address = app.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /o/token/ HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            SLOW_BODY.len(),
            &SLOW_BODY[..10]
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        Self { stream }
    }

    async fn finish(mut self) -> String {
        let _ = self.stream.write_all(&SLOW_BODY.as_bytes()[10..]).await;
        self.answer().await
    }

    /// The status line and headers of the answer.
    async fn answer(mut self) -> String {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.stream.read_to_end(&mut answer)).await.unwrap().unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Waits until the server has a request of `app`'s in flight (the guard counts it once
/// its headers are read), by asking until an answer is shed.
async fn until_shed(app: &TestApp) -> crate::helpers::Answer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = crate::helpers::read(app.http.get(app.url("/healthz")).send().await.unwrap()).await;
        if answer.status == StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn requests_beyond_the_concurrency_limit_are_shed_with_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_concurrent_requests = 1).await;
    let slow = SlowRequest::start(&app).await;
    // RFC 9110 §15.6.4: 503 "indicates that the server is currently unable to handle
    // the request due to a temporary overload"; the server "MAY send a Retry-After
    // header field".
    let shed = until_shed(&app).await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE, "{shed:?}");
    assert_eq!(seconds(&shed), 1);
    // The request in flight is served as usual once its body comes.
    let answer = slow.finish().await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // And with it done there is room again.
    let after = crate::helpers::read(app.http.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(after.status, StatusCode::OK);
}

async fn a_request_over_the_timeout_is_answered_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.request_timeout_seconds = 1).await;
    let started = Instant::now();
    let answer = SlowRequest::start(&app).await.answer().await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Requests that take less time are not affected.
    let client = app.confidential().await;
    app.client_credentials(&client).await;
}

async fn an_exhausted_pool_sheds_with_503_after_the_pool_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.storage.pool_size = 1;
        c.storage.pool_timeout_seconds = 1;
    })
    .await;
    let blocked_client = app.client(portcullis::store::ClientType::Confidential, &[GrantType::ClientCredentials], None);
    let blocked_client = blocked_client.await;
    let other = app.confidential().await;
    // Another session locks the applications table, so the server's one connection
    // waits on it while serving the first request.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut lock = admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let first = {
        let http = app.http.clone();
        let url = app.url("/o/token/");
        let client = blocked_client.clone();
        tokio::spawn(async move {
            let request = http.post(url).basic_auth(&client.client_id, client.secret.as_deref());
            crate::helpers::read(request.form(&[("grant_type", "client_credentials")]).send().await.unwrap()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The second request finds no connection within the pool timeout: shed.
    let started = Instant::now();
    let shed = app.token(&other, &[("grant_type", "client_credentials")]).await;
    shed.assert_error(503, "temporarily_unavailable");
    assert_eq!(seconds(&shed), 1);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "{waited:?}");
    // Released, the first request completes: it waited, and nothing was lost.
    lock.rollback().await.unwrap();
    first.await.unwrap().assert_token();
    app.client_credentials(&other).await;
}
