//! `GET /metrics`: a known mix of requests, tokens and logins,
//! counted exactly in the scrape, with no credential anywhere in it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::Connection;

use crate::authorize::logged_in;
use crate::helpers::{read, Answer, Backend, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        metrics_count_a_known_mix_of_requests_exactly,
        metrics_belong_to_each_server,
        metrics_scrape_outlasts_a_stalled_session_count,
    ]
}

/// One line of the exposition: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an OpenMetrics text exposition, which must end with `# EOF`.
fn parse(text: &str) -> Vec<Sample> {
    assert_eq!(text.lines().last(), Some("# EOF"), "OpenMetrics ends with # EOF:\n{text}");
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(parse_line).collect()
}

fn parse_line(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
    let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
    let Some((name, rest)) = series.split_once('{') else {
        return Sample { name: series.to_owned(), labels: BTreeMap::new(), value };
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}")).chars();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(escaped) => value.push(escaped),
                    None => panic!("{line}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => panic!("unexpected {c:?} in {line}"),
        }
    }
    Sample { name: name.to_owned(), labels, value }
}

/// The value of the sample named `name` whose labels are exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    samples.iter().find(|s| s.name == name && s.labels == wanted).map(|s| s.value)
}

#[track_caller]
fn requests(samples: &[Sample], route: &str, method: &str, status: &str) -> f64 {
    value(samples, "http_requests_total", &[("route", route), ("method", method), ("status", status)])
        .unwrap_or_else(|| panic!("no http_requests_total for {method} {route} {status}"))
}

async fn scrape(app: &TestApp) -> (Answer, Vec<Sample>) {
    let answer = read(app.http.get(app.url("/metrics")).send().await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let samples = parse(&answer.text);
    (answer, samples)
}

/// Every `(route, method)` that has requests has a latency histogram whose count is
/// their sum, whose `+Inf` bucket is that count, and whose buckets only grow.
#[track_caller]
fn histograms_agree_with_the_counters(samples: &[Sample]) {
    let mut totals: BTreeMap<(String, String), f64> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == "http_requests_total") {
        *totals.entry((s.labels["route"].clone(), s.labels["method"].clone())).or_default() += s.value;
    }
    assert!(!totals.is_empty());
    for ((route, method), total) in &totals {
        let series = [("route", route.as_str()), ("method", method.as_str())];
        let count = value(samples, "http_request_duration_seconds_count", &series);
        assert_eq!(count, Some(*total), "{method} {route}: histogram count against requests");
        let sum = value(samples, "http_request_duration_seconds_sum", &series).unwrap();
        assert!(sum > 0.0 && sum < 60.0 * total, "{method} {route}: sum {sum}");
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| {
                s.name == "http_request_duration_seconds_bucket"
                    && s.labels.get("route") == Some(route)
                    && s.labels.get("method") == Some(method)
            })
            .map(|s| (s.labels["le"].parse::<f64>().unwrap(), s.value))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(buckets.first().map(|b| b.0), Some(0.0005), "{method} {route}: the first bucket is 0.5 ms");
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, *total)), "{method} {route}");
        assert!(buckets.iter().any(|b| b.0 == 5.0), "{method} {route}: a 5 s bucket");
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{method} {route}: buckets only grow: {buckets:?}");
    }
}

async fn metrics_count_a_known_mix_of_requests_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    // Two requests to log in: the form, then the post.
    let browser = logged_in(&app).await;

    let machine = app.client_credentials(&client).await;
    let person = app.password_token(&client, "alice", None).await;
    let wrong_secret = "not-the-secret-4f1c";
    let impostor = Client { client_id: client.client_id.clone(), secret: Some(wrong_secret.into()) };
    app.token(&impostor, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
    let access = person["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/hello/", access).await, StatusCode::OK);
    let nowhere = read(app.http.get(app.url("/no/such/page-31337")).send().await.unwrap()).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    // A path with an id in it, which must be counted under its template.
    assert_eq!(browser.get("/o/applications/987654321/").await.status, StatusCode::NOT_FOUND);

    let (answer, samples) = scrape(&app).await;
    let content_type = answer.header("content-type").unwrap();
    assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    assert_eq!(requests(&samples, "/o/token/", "POST", "200"), 2.0);
    assert_eq!(requests(&samples, "/o/token/", "POST", "401"), 1.0);
    assert_eq!(requests(&samples, "/api/hello/", "GET", "200"), 1.0);
    assert_eq!(requests(&samples, "/accounts/login/", "GET", "200"), 1.0);
    assert_eq!(requests(&samples, "/accounts/login/", "POST", "303"), 1.0);
    assert_eq!(requests(&samples, "unmatched", "GET", "404"), 1.0);
    assert_eq!(requests(&samples, "/o/applications/{id}/", "GET", "404"), 1.0);
    // Those eight requests and nothing else. (A scrape is recorded, if at all, once it
    // has answered: the second scrape below shows that this one was not.)
    let total: f64 = samples.iter().filter(|s| s.name == "http_requests_total").map(|s| s.value).sum();
    assert_eq!(total, 8.0, "{}", answer.text);
    histograms_agree_with_the_counters(&samples);

    let issued = |grant| value(&samples, "oauth_tokens_issued_total", &[("grant", grant)]);
    assert_eq!(issued("client_credentials"), Some(1.0));
    assert_eq!(issued("password"), Some(1.0));
    // The other grants are there from the start, at zero; the 401 issued nothing.
    for grant in ["authorization_code", "refresh_token", "implicit", "urn:ietf:params:oauth:grant-type:device_code"] {
        assert_eq!(issued(grant), Some(0.0), "{grant}");
    }

    assert_eq!(value(&samples, "portcullis_active_sessions", &[]), Some(1.0), "alice's session");

    let pools: Vec<&str> =
        samples.iter().filter(|s| s.name == "db_pool_max_connections").map(|s| s.labels["pool"].as_str()).collect();
    let expected: &[&str] = match backend {
        Backend::Sqlite => &["writer", "reader"],
        Backend::Postgres => &["main"],
    };
    assert_eq!(pools.len(), expected.len(), "{pools:?}");
    for pool in expected {
        let max = value(&samples, "db_pool_max_connections", &[("pool", pool)]).unwrap();
        let idle = value(&samples, "db_pool_connections", &[("pool", pool), ("state", "idle")]).unwrap();
        let in_use = value(&samples, "db_pool_connections", &[("pool", pool), ("state", "in_use")]).unwrap();
        assert!(max > 0.0 && idle >= 0.0 && in_use >= 0.0 && idle + in_use <= max, "{pool}: {idle} {in_use} {max}");
        // Every pool has served a query by now, and holds the connection it opened.
        assert!(idle + in_use >= 1.0, "{pool}: no connection open");
    }
    if backend == Backend::Sqlite {
        assert_eq!(value(&samples, "db_pool_max_connections", &[("pool", "writer")]), Some(1.0), "one writer");
    }

    // No credential, nor anything that names a client, a user or a raw path.
    let refresh = person["refresh_token"].as_str().unwrap();
    let secrets = [
        ("the client secret", client.secret.as_deref().unwrap()),
        ("the wrong secret", wrong_secret),
        ("the client-credentials token", machine["access_token"].as_str().unwrap()),
        ("the password-grant token", access),
        ("the refresh token", refresh),
        ("the password", PASSWORD),
        ("the client id", &client.client_id),
        ("the username", "alice"),
        ("an unmatched path", "31337"),
        ("an id in a path", "987654321"),
    ];
    for (what, secret) in secrets {
        assert!(!answer.text.contains(secret), "{what} is in the scrape:\n{}", answer.text);
    }

    // Logging out ends the session; the scrape sees it at once.
    let out = browser.submit("/o/applications/", "/accounts/logout/", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.text);
    let (_, after) = scrape(&app).await;
    assert_eq!(value(&after, "portcullis_active_sessions", &[]), Some(0.0));
    assert_eq!(requests(&after, "/accounts/logout/", "POST", "303"), 1.0);
    assert_eq!(requests(&after, "/o/applications/", "GET", "200"), 1.0);
    let total: f64 = after.iter().filter(|s| s.name == "http_requests_total").map(|s| s.value).sum();
    assert_eq!(total, 10.0, "the first scrape was not counted either");
    assert!(after.iter().all(|s| s.labels.get("route").is_none_or(|r| !r.contains("metrics"))));
    histograms_agree_with_the_counters(&after);
}

/// Metrics belong to a server, not to the process: two servers in one process (as in
/// this suite, or two providers in one host) each count only their own requests.
async fn metrics_belong_to_each_server(backend: Backend) {
    let busy = TestApp::spawn(backend).await;
    let idle = TestApp::spawn(backend).await;
    let client = busy.confidential().await;
    busy.client_credentials(&client).await;
    assert_eq!(read(busy.http.get(busy.url("/healthz")).send().await.unwrap()).await.status, StatusCode::OK);

    let (_, busy_samples) = scrape(&busy).await;
    assert_eq!(requests(&busy_samples, "/healthz", "GET", "200"), 1.0);
    assert_eq!(value(&busy_samples, "oauth_tokens_issued_total", &[("grant", "client_credentials")]), Some(1.0));
    let (_, idle_samples) = scrape(&idle).await;
    assert!(idle_samples.iter().all(|s| s.name != "http_requests_total"), "{idle_samples:?}");
    assert_eq!(value(&idle_samples, "oauth_tokens_issued_total", &[("grant", "client_credentials")]), Some(0.0));
    assert_eq!(value(&idle_samples, "portcullis_active_sessions", &[]), Some(0.0));
}

/// With the sessions table locked by another transaction, the count cannot finish: the
/// scrape answers within the store timeout (2 s), without the sessions gauge but with
/// everything else, and has it again once the lock goes.
///
/// PostgreSQL only: SQLite's readers never wait for a writer (WAL), and nothing outside
/// the store can hold its connections, so there is no way to stall the count there.
async fn metrics_scrape_outlasts_a_stalled_session_count(backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let app = TestApp::spawn(backend).await;
    assert_eq!(read(app.http.get(app.url("/healthz")).send().await.unwrap()).await.status, StatusCode::OK);
    let mut other = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut lock = other.begin().await.unwrap();
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();

    let started = Instant::now();
    let (_, samples) = scrape(&app).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(5), "the scrape took {took:?}");
    assert_eq!(value(&samples, "portcullis_active_sessions", &[]), None, "no count, rather than a wrong one");
    assert_eq!(requests(&samples, "/healthz", "GET", "200"), 1.0);
    assert!(value(&samples, "db_pool_max_connections", &[("pool", "main")]).is_some());

    lock.rollback().await.unwrap();
    let (_, samples) = scrape(&app).await;
    assert_eq!(value(&samples, "portcullis_active_sessions", &[]), Some(0.0));
}
