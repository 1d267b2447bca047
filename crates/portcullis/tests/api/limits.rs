//! Overload: rate limits answer `429` with `Retry-After`, and the
//! server sheds what it cannot take on with `503` rather than queueing without end.

use std::time::{Duration, Instant};

use http::StatusCode;
use portcullis::proto::GrantType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cases;
use crate::helpers::{csrf_token, read, Answer, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    cases![
        token_requests_over_a_clients_rate_get_429_with_retry_after,
        failed_password_grants_lock_the_account_everywhere,
        failures_from_one_address_lock_every_account_from_it,
        login_limits_of_zero_are_off,
        concurrent_wrong_passwords_are_checked_at_most_the_limit,
        concurrent_logins_from_many_sessions_are_checked_at_most_the_limit,
        concurrent_wrong_device_codes_are_looked_up_at_most_the_limit,
        a_flood_of_wrong_secrets_does_not_lock_the_client_out,
        a_public_client_is_limited_per_address,
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
    // A wrong secret is not the client's request: it is counted in a bucket of its
    // own (see a_flood_of_wrong_secrets_does_not_lock_the_client_out), not refused by
    // the client's.
    let guess = crate::helpers::Client { client_id: client.client_id.clone(), secret: Some("guess".into()) };
    app.token(&guess, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
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

/// How many of `answers` were not refused with 429: the attempts that were checked.
fn checked(answers: &[Answer]) -> usize {
    answers.iter().filter(|a| a.status != StatusCode::TOO_MANY_REQUESTS).count()
}

/// Runs every future at once, on the runtime's threads, and waits for all.
async fn all_at_once<F>(requests: Vec<F>) -> Vec<Answer>
where
    F: std::future::Future<Output = Answer> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

const GUESSES: usize = 24;

/// Wrong passwords sent at once through the password grant: each takes its place in
/// the count before its password is checked, so no more than the account's limit (5)
/// are checked, and the right password is refused after them.
async fn concurrent_wrong_passwords_are_checked_at_most_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    let guesses = (0..GUESSES)
        .map(|i| {
            let request = app.http.post(app.url("/o/token/")).basic_auth(&client.client_id, client.secret.as_deref());
            let password = format!("wrong-{i}");
            async move {
                let form = [("grant_type", "password"), ("username", "alice"), ("password", password.as_str())];
                read(request.form(&form).send().await.unwrap()).await
            }
        })
        .collect();
    let answers = all_at_once(guesses).await;
    assert_eq!(checked(&answers), 5, "{GUESSES} guesses at once against a limit of 5 per account");
    for answer in &answers {
        if answer.status != StatusCode::TOO_MANY_REQUESTS {
            answer.assert_error(400, "invalid_grant");
        }
    }
    let right = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)];
    app.token(&client, &right).await.assert_error(429, "temporarily_unavailable");
}

/// The login page, from many sessions at once (each with its own CSRF token, as a
/// guesser with many browsers would have): at most the limit are checked.
async fn concurrent_logins_from_many_sessions_are_checked_at_most_the_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.login_failures_per_account = 0).await;
    // The address's limit (20) is the one that holds here: every session is on 127.0.0.1.
    app.user("alice").await;
    let mut guesses = Vec::new();
    for i in 0..(GUESSES + 8) {
        let browser = Browser::new(&app);
        let page = browser.get("/accounts/login/").await;
        let csrf = csrf_token(&page.text);
        guesses.push(async move {
            let password = format!("wrong-{i}");
            browser
                .post("/accounts/login/", &[("csrf_token", &csrf), ("username", "alice"), ("password", &password)])
                .await
        });
    }
    let answers = all_at_once(guesses).await;
    assert_eq!(checked(&answers), 20, "{} guesses at once against a limit of 20 per address", GUESSES + 8);
    for answer in answers.iter().filter(|a| a.status != StatusCode::TOO_MANY_REQUESTS) {
        assert!(answer.text.contains("Please enter a correct username and password"), "{}", answer.text);
    }
    // The right password, from a session of its own, is refused too.
    let late = Browser::new(&app);
    let page = late.submit("/accounts/login/", "/accounts/login/", &[("username", "alice"), ("password", PASSWORD)]);
    assert_eq!(page.await.status, StatusCode::TOO_MANY_REQUESTS);
}

/// RFC 8628 §5.1: "the authorization server SHOULD rate-limit user code attempts". Wrong
/// codes typed at once count against the limit (5) before they are looked up.
async fn concurrent_wrong_device_codes_are_looked_up_at_most_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    browser.login("alice", PASSWORD).await;
    let page = browser.get("/o/device/").await;
    let csrf = csrf_token(&page.text);
    let guesses = (0..GUESSES)
        .map(|i| {
            let browser = browser.http.clone();
            let url = app.url("/o/device/");
            let csrf = csrf.clone();
            async move {
                let code = format!("BCDF-{:04}", i);
                read(
                    browser
                        .post(url)
                        .form(&[("csrf_token", csrf.as_str()), ("user_code", &code)])
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            }
        })
        .collect();
    let answers = all_at_once(guesses).await;
    assert_eq!(checked(&answers), 5, "{GUESSES} codes at once against a limit of 5");
}

/// A client whose requests come from `address` (a loopback address of its own, so
/// that the server tells it apart from the test's other clients).
fn http_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(address)).build().unwrap()
}

/// Client ids are public. A stranger who floods a client id with wrong secrets uses up
/// a bucket of its own (that id, from its address), never the client's: the client's
/// next correct request is served.
async fn a_flood_of_wrong_secrets_does_not_lock_the_client_out(backend: Backend) {
    // The slowest refill the settings allow, so that the counts below hold on a slow
    // machine too.
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.token_requests_per_second = 1;
        c.limits.token_request_burst = 10;
    })
    .await;
    let victim = app.confidential().await;
    let attacker = http_from([127, 0, 0, 2]);
    let url = app.url("/o/token/");
    let mut refused = 0;
    for _ in 0..4 {
        let flood: Vec<_> = (0..50)
            .map(|_| {
                let request = attacker.post(&url).basic_auth(&victim.client_id, Some("wrong secret"));
                async move { read(request.form(&[("grant_type", "client_credentials")]).send().await.unwrap()).await }
            })
            .collect();
        for answer in all_at_once(flood).await {
            match answer.status.as_u16() {
                401 => answer.assert_error(401, "invalid_client"),
                429 => refused += 1,
                other => panic!("{other}: {}", answer.text),
            }
        }
    }
    assert!(refused >= 150, "the stranger's guesses are limited too: {refused} of 200 refused");
    // The client, from its own address, is served: the flood did not touch its rate.
    let victims_own = http_from([127, 0, 0, 1]);
    let request = victims_own.post(&url).basic_auth(&victim.client_id, victim.secret.as_deref());
    read(request.form(&[("grant_type", "client_credentials")]).send().await.unwrap()).await.assert_token();
    // That the stranger's address stays refused, the right secret included, until its
    // bucket refills is a matter of time: `limits::tests` checks it on its own clock.
}

/// A public client has users at many addresses and no secret, so anyone can send
/// requests in its name: its rate is counted per address.
async fn a_public_client_is_limited_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.token_requests_per_second = 1;
        c.limits.token_request_burst = 2;
    })
    .await;
    let spa: Client = app.client(portcullis::proto::ClientType::Public, &[GrantType::AuthorizationCode], None).await;
    let ask = |http: &reqwest::Client| {
        let form = [("grant_type", "authorization_code"), ("code", "made-up"), ("client_id", spa.client_id.as_str())];
        let request = http.post(app.url("/o/token/")).form(&form);
        async move { read(request.send().await.unwrap()).await }
    };
    let one = http_from([127, 0, 0, 3]);
    for _ in 0..2 {
        ask(&one).await.assert_error(400, "invalid_grant");
    }
    ask(&one).await.assert_error(429, "temporarily_unavailable");
    // The client's users elsewhere are not refused.
    let another = http_from([127, 0, 0, 4]);
    ask(&another).await.assert_error(400, "invalid_grant");
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
    let blocked_client = app.client(portcullis::proto::ClientType::Confidential, &[GrantType::ClientCredentials], None);
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
