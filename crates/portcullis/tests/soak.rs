//! The soak test: the real binary under minutes of mixed load, on
//! SQLite and on PostgreSQL, one after the other (its own test binary, so it does not
//! share the machine with the rest of the suite). It shows:
//!
//! - no 5xx but shedding (`503` with `Retry-After`), and no failed connection;
//! - flat memory: what the server holds grows by no more than a small bound per request
//!   between the middle and the end of the run;
//! - no leaked connections: file descriptors (sockets, database files) and PostgreSQL
//!   sessions return to where they were once the load stops;
//! - a clean stop on SIGTERM after it all.
//!
//! `SOAK_SECONDS` sets each run's length (default 60).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::{fresh_database, portcullis, Backend, Instance};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

fn main() {
    let mut args = Arguments::from_args();
    // One run at a time: each wants the whole machine.
    args.test_threads = Some(1);
    let postgres = helpers::postgres_url();
    let mut trials = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let skip = backend == Backend::Postgres && postgres.is_none();
        trials.push(
            Trial::test(format!("{}::soak::mixed_load_for_minutes", backend.name()), move || soak(backend))
                .with_ignored_flag(skip),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(helpers::drop_test_databases());
    conclusion.exit();
}

fn soak(backend: Backend) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(backend)))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "soak panicked".to_owned())
            .into()
    })
}

const USERNAME: &str = "soak";
const PASSWORD: &str = "soak-passphrase";
/// Client applications the load spreads over: each stays under the default per-client
/// rate limit at the rates these machines reach, so the run measures serving, not
/// refusing (refusals are counted and allowed).
const APPS: usize = 12;
/// Requests in flight at once.
const WORKERS: usize = 32;
/// How many recent tokens the load keeps to introspect, use and revoke.
const KEEP: usize = 2000;
/// The most a request may add to what the server holds for good, on average, between
/// the middle and the end of the run. A leak of one token or one request's headers per
/// request is well above it.
const LEAK_BYTES_PER_REQUEST: f64 = 64.0;
/// Memory wobbles by allocator arenas and page granularity whatever the load does, and
/// SQLite's page caches (2 MiB a connection) fill as the database grows.
const RSS_SLACK_BYTES: f64 = 4.0 * 1024.0 * 1024.0;

#[derive(Clone)]
struct App {
    client_id: String,
    secret: String,
}

/// What every worker shares: the recent tokens and the tally of answers.
#[derive(Default)]
struct Shared {
    access: Mutex<VecDeque<String>>,
    refresh: Mutex<VecDeque<String>>,
    /// `(operation, status)` → count.
    statuses: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// 503s without `Retry-After`, other 5xx, and transport errors.
    bad: Mutex<Vec<String>>,
    requests: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn push(queue: &Mutex<VecDeque<String>>, token: String) {
        let mut queue = queue.lock().unwrap();
        if queue.len() >= KEEP {
            queue.pop_front();
        }
        queue.push_back(token);
    }

    fn pick(queue: &Mutex<VecDeque<String>>, n: usize) -> Option<String> {
        let queue = queue.lock().unwrap();
        (!queue.is_empty()).then(|| queue[n % queue.len()].clone())
    }

    fn take(queue: &Mutex<VecDeque<String>>) -> Option<String> {
        queue.lock().unwrap().pop_front()
    }

    /// Counts an answer; returns its JSON body when it was a 200.
    async fn answer(&self, op: &'static str, result: reqwest::Result<reqwest::Response>) -> Option<Value> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                self.bad.lock().unwrap().push(format!("{op}: {error}"));
                return None;
            }
        };
        let status = response.status().as_u16();
        *self.statuses.lock().unwrap().entry((op, status)).or_default() += 1;
        let shed = status == 503 && response.headers().contains_key("retry-after");
        if status >= 500 && !shed {
            let text = response.text().await.unwrap_or_default();
            self.bad.lock().unwrap().push(format!("{op}: {status} {text}"));
            return None;
        }
        if status != 200 {
            return None;
        }
        response.json().await.ok().or(Some(Value::Null))
    }
}

/// One worker: a mix of what an authorization server's clients do, by weight.
async fn worker(base: String, apps: Arc<Vec<App>>, shared: Arc<Shared>, stop: Arc<AtomicBool>, seed: usize) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut n = seed;
    while !stop.load(Ordering::Relaxed) {
        // A cheap spread of operations and apps, different per worker.
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let roll = (n >> 33) % 100;
        let app_index = (n >> 20) % apps.len();
        let app = &apps[app_index];
        let token_request = |form: Vec<(&str, String)>| {
            http.post(format!("{base}/o/token/")).basic_auth(&app.client_id, Some(&app.secret)).form(&form).send()
        };
        match roll {
            0..=34 => {
                let form = vec![("grant_type", "client_credentials".to_owned())];
                if let Some(body) = shared.answer("client_credentials", token_request(form).await).await {
                    Shared::push(&shared.access, body["access_token"].as_str().unwrap().to_owned());
                }
            }
            35..=41 => {
                let form = vec![
                    ("grant_type", "password".to_owned()),
                    ("username", USERNAME.to_owned()),
                    ("password", PASSWORD.to_owned()),
                ];
                if let Some(body) = shared.answer("password", token_request(form).await).await {
                    Shared::push(&shared.access, body["access_token"].as_str().unwrap().to_owned());
                    let refresh = body["refresh_token"].as_str().unwrap();
                    Shared::push(&shared.refresh, format!("{app_index} {refresh}"));
                }
            }
            42..=51 => {
                // Taken, not picked: a refresh token is used once (it rotates). Mostly
                // by the app it was issued to; now and then by another, which must be
                // refused (RFC 6749 §6: the token "is bound to the client").
                let Some(entry) = Shared::take(&shared.refresh) else { continue };
                let (owner, refresh) = entry.split_once(' ').unwrap();
                let owner: usize = owner.parse().unwrap();
                let by = if roll == 42 { (owner + 1) % apps.len() } else { owner };
                let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
                let request = http
                    .post(format!("{base}/o/token/"))
                    .basic_auth(&apps[by].client_id, Some(&apps[by].secret))
                    .form(&form);
                if let Some(body) = shared.answer("refresh_token", request.send().await).await {
                    let refresh = body["refresh_token"].as_str().unwrap();
                    Shared::push(&shared.refresh, format!("{owner} {refresh}"));
                }
            }
            52..=71 => {
                let Some(token) = Shared::pick(&shared.access, n) else { continue };
                let request = http
                    .post(format!("{base}/o/introspect/"))
                    .basic_auth(&apps[0].client_id, Some(&apps[0].secret))
                    .form(&[("token", token)]);
                shared.answer("introspect", request.send().await).await;
            }
            72..=89 => {
                let Some(token) = Shared::pick(&shared.access, n) else { continue };
                let request = http.get(format!("{base}/api/hello/")).bearer_auth(token);
                shared.answer("api", request.send().await).await;
            }
            90..=94 => {
                let Some(token) = Shared::take(&shared.access) else { continue };
                let form = vec![("token", token)];
                let request = http
                    .post(format!("{base}/o/revoke_token/"))
                    .basic_auth(&app.client_id, Some(&app.secret))
                    .form(&form);
                shared.answer("revoke", request.send().await).await;
            }
            _ => {
                shared.answer("login_page", http.get(format!("{base}/accounts/login/")).send().await).await;
            }
        }
    }
}

/// What the server process holds, read from /proc. Memory is its anonymous resident
/// memory (heap and stacks): the database file SQLite maps grows with the data, and
/// its pages are not the server's to leak.
#[derive(Debug, Clone, Copy)]
struct Sample {
    requests: u64,
    rss_bytes: f64,
    fds: usize,
    db_sessions: i64,
}

fn rss_bytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024.0
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Sessions the server holds on its PostgreSQL database (0 for SQLite).
async fn db_sessions(backend: Backend, url: &str) -> i64 {
    if backend == Backend::Sqlite {
        return 0;
    }
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&helpers::postgres_url().unwrap()).await.unwrap();
    let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    count
}

async fn run(backend: Backend) {
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let length = Duration::from_secs(seconds.max(9));
    let (url, _db) = fresh_database(backend).await;
    let user = ["user", "create", "--username", USERNAME, "--email", "soak@example.com", "--password-stdin"];
    portcullis(&url, &user, Some(&format!("{PASSWORD}\n"))).await;
    let mut apps = Vec::new();
    for i in 0..APPS {
        let name = format!("Soak {i}");
        let args = [
            "app",
            "create",
            "--name",
            &name,
            "--client-type",
            "confidential",
            "--grant-type",
            "client-credentials",
            "--grant-type",
            "password",
            "--json",
        ];
        let created: Value = serde_json::from_str(&portcullis(&url, &args, None).await).unwrap();
        apps.push(App {
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            secret: created["client_secret"].as_str().unwrap().to_owned(),
        });
    }
    let mut server = Instance::start(&url, &[]).await;
    let pid = server.child.id().unwrap();

    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let apps = Arc::new(apps);
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| tokio::spawn(worker(server.base.clone(), apps.clone(), shared.clone(), stop.clone(), i * 7919 + 1)))
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < length {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(Sample {
            requests: shared.requests.load(Ordering::Relaxed),
            rss_bytes: rss_bytes(pid),
            fds: open_fds(pid),
            db_sessions: db_sessions(backend, &url).await,
        });
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(60), worker).await.unwrap().unwrap();
    }
    // Idle connections of the load's clients close with them; give the server a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = Sample {
        requests: shared.requests.load(Ordering::Relaxed),
        rss_bytes: rss_bytes(pid),
        fds: open_fds(pid),
        db_sessions: db_sessions(backend, &url).await,
    };

    let statuses = shared.statuses.lock().unwrap().clone();
    let bad = shared.bad.lock().unwrap().clone();
    let third = samples.len() / 3;
    let warm = samples[third];
    let middle = &samples[third..2 * third];
    let end = &samples[2 * third..];
    let mean_rss = |s: &[Sample]| s.iter().map(|x| x.rss_bytes).sum::<f64>() / s.len() as f64;
    let mean_requests = |s: &[Sample]| s.iter().map(|x| x.requests as f64).sum::<f64>() / s.len() as f64;
    let growth = mean_rss(end) - mean_rss(middle);
    let served_between = mean_requests(end) - mean_requests(middle);
    let per_request = (growth - RSS_SLACK_BYTES).max(0.0) / served_between.max(1.0);
    let peak_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let peak_sessions = samples.iter().map(|s| s.db_sessions).max().unwrap_or(0);
    let report = format!(
        "{}: {} requests in {:?} ({:.0}/s); statuses {statuses:?}; RSS {:.1} MiB at a third, middle mean {:.1} MiB, \
         end mean {:.1} MiB, {:.1} MiB after ({per_request:.2} B/request over slack); fds {} at a third, peak \
         {peak_fds}, {} after; database sessions peak {peak_sessions}, {} after",
        backend.name(),
        after.requests,
        length,
        after.requests as f64 / length.as_secs_f64(),
        warm.rss_bytes / 1048576.0,
        mean_rss(middle) / 1048576.0,
        mean_rss(end) / 1048576.0,
        after.rss_bytes / 1048576.0,
        warm.fds,
        after.fds,
        after.db_sessions,
    );
    eprintln!("{report}");

    assert!(bad.is_empty(), "{} bad answers, first {:?}\n{report}", bad.len(), &bad[..bad.len().min(5)]);
    let ok: u64 = statuses.iter().filter(|((_, s), _)| *s == 200).map(|(_, n)| n).sum();
    assert!(ok as f64 >= 0.8 * after.requests as f64, "most requests served\n{report}");
    assert!(after.requests >= 20 * length.as_secs(), "too little load to judge\n{report}");
    for op in ["client_credentials", "password", "refresh_token", "introspect", "api", "revoke", "login_page"] {
        assert!(statuses.get(&(op, 200)).is_some_and(|n| *n > 0), "{op} never succeeded\n{report}");
    }
    assert!(per_request <= LEAK_BYTES_PER_REQUEST, "memory grows with requests\n{report}");
    // Sockets of finished connections are closed, database files and connections are
    // the pool's: once idle, the server holds no more than it did warmed up.
    assert!(after.fds <= warm.fds + 4, "file descriptors left open\n{report}");
    if backend == Backend::Postgres {
        let pool = i64::from(portcullis::store::PostgresStore::DEFAULT_POOL_SIZE);
        // The pool, plus the change listener's own connection.
        assert!(peak_sessions <= pool + 1, "more database sessions than the pool allows\n{report}");
        assert!(after.db_sessions <= pool + 1, "{report}");
    }

    // A clean stop, after it all.
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(40), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "SIGTERM after the soak: {status:?}");
}
