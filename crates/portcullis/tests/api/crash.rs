//! Crash safety: the real server is killed with SIGKILL in the middle of a
//! token-issuing load, then started again on the same database. Every token a client
//! got a whole `200` for must still work, and every revocation answered `200` must
//! still hold. A server that answered before its commit (a group commit replying
//! early, say) loses exactly those tokens, and only a real kill of a real process
//! shows it: an orderly shutdown would let the commit finish.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use portcullis::crypto::TokenHash;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fresh_database, portcullis, Backend, Instance};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![crash_by_sigkill_mid_load_loses_nothing_answered]
}

/// Concurrent clients: enough that requests are always in flight when the kill lands,
/// and that group commits gather several tokens each.
const CLIENTS: usize = 24;
/// Of those, the ones using the password grant (access and refresh token in one
/// commit). An Argon2id check each, so few.
const PASSWORD_CLIENTS: usize = 4;
/// Every third token a client gets, it revokes at once.
const REVOKE_EVERY: usize = 3;
/// The kill comes at a moment drawn from this range after the load starts...
const KILL_AFTER_MS: std::ops::Range<u64> = 500..1500;
/// ...and not before this many tokens and revocations were answered, so that a slow
/// machine still kills a server in full swing.
const MIN_TOKENS: usize = 200;
const MIN_REVOCATIONS: usize = 20;

const USERNAME: &str = "alice";
const PASSWORD: &str = "alice-passphrase";
/// The load is one client as fast as it can go: over the default per-client rate limit,
/// which is not what this test is about.
const UNLIMITED: &[(&str, &str)] = &[("PORTCULLIS_LIMITS_TOKEN_REQUESTS_PER_SECOND", "0")];

async fn crash_by_sigkill_mid_load_loses_nothing_answered(backend: Backend) {
    // Arrange: a user and a confidential application, made with the command line.
    let (url, _db) = fresh_database(backend).await;
    let user_args = ["user", "create", "--username", USERNAME, "--email", "alice@example.com", "--password-stdin"];
    portcullis(&url, &user_args, Some(&format!("{PASSWORD}\n"))).await;
    let app_args = ["app", "create", "--name", "Load", "--client-type", "confidential", "--json"];
    let grants = ["--grant-type", "client-credentials", "--grant-type", "password"];
    let app: Value =
        serde_json::from_str(&portcullis(&url, &[&app_args[..], &grants[..]].concat(), None).await).unwrap();
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();

    // Act: the load, and the kill in its middle.
    let mut server = Instance::start(&url, UNLIMITED).await;
    let load = Arc::new(Load::new(&server.base, &client_id, &secret));
    let clients: Vec<_> = (0..CLIENTS).map(|i| tokio::spawn(client(load.clone(), i < PASSWORD_CLIENTS))).collect();
    let started = Instant::now();
    let kill_at =
        Duration::from_millis(KILL_AFTER_MS.start + rand::random::<u64>() % (KILL_AFTER_MS.end - KILL_AFTER_MS.start));
    tokio::time::timeout(Duration::from_secs(20), async {
        // A client that stopped early panicked: go on, so that its join shows why.
        while (started.elapsed() < kill_at
            || load.issued.load(Ordering::SeqCst) < MIN_TOKENS
            || load.revoked.load(Ordering::SeqCst) < MIN_REVOCATIONS)
            && !clients.iter().any(|c| c.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("in 20 s the load got only {} tokens answered", load.issued.load(Ordering::SeqCst)));
    load.killed.store(true, Ordering::SeqCst);
    server.child.start_kill().unwrap();
    let status = server.child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    let killed_after = started.elapsed();
    let mut tally = Tally::default();
    for c in clients {
        let one = tokio::time::timeout(Duration::from_secs(30), c).await.unwrap().unwrap();
        tally.issued.extend(one.issued);
        tally.cut += one.cut;
        tally.refused += one.refused;
    }
    let revocations = tally.issued.iter().filter(|i| matches!(i.revoked, Revoked::Access | Revoked::Refresh)).count();
    assert!(tally.issued.len() >= MIN_TOKENS && revocations >= MIN_REVOCATIONS, "too little load to judge");
    // The kill landed mid-load: requests sent before it never got their answer.
    assert!(tally.cut > 0, "no request was in flight at the kill");

    // Assert: a new server on the same database knows every token and revocation.
    let server = Instance::start(&url, UNLIMITED).await;
    let check = Arc::new(Load::new(&server.base, &client_id, &secret));
    let tokens: Vec<(usize, String)> = tally.issued.iter().map(|i| i.access.clone()).enumerate().collect();
    let answers: Vec<(usize, Value)> = futures::stream::iter(tokens)
        .map(|(index, token)| {
            let check = check.clone();
            async move { (index, check.post_json("/o/introspect/", &[("token", &token)]).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut lost = 0;
    let mut undone = 0;
    for (index, answer) in &answers {
        let issued = &tally.issued[*index];
        let active = answer["active"].as_bool().unwrap_or_else(|| panic!("{answer}"));
        match issued.revoked {
            Revoked::No if !active => lost += 1,
            Revoked::No => {
                assert_eq!(answer["client_id"], client_id.as_str(), "{answer}");
                let username = issued.refresh.as_ref().map(|_| USERNAME);
                assert_eq!(answer["username"].as_str(), username, "{answer}");
            }
            Revoked::Access | Revoked::Refresh if active => undone += 1,
            Revoked::Access | Revoked::Refresh | Revoked::Unknown => {}
        }
    }
    // Introspection says `active: false` for a revoked token and for a lost one alike:
    // the database itself tells them apart. Every token answered 200 has its row,
    // revoked when its revocation was answered 200 too.
    let store = portcullis::store::connect_with(&url, 2).await.unwrap();
    let (mut missing, mut rows_unrevoked) = (0, 0);
    for issued in &tally.issued {
        let revoked = matches!(issued.revoked, Revoked::Access | Revoked::Refresh);
        match store.access_token(&TokenHash::of(&issued.access)).await.unwrap() {
            None => missing += 1,
            Some(row) if revoked && row.revoked_at.is_none() => rows_unrevoked += 1,
            Some(_) => {}
        }
    }
    store.close().await;
    // Refresh tokens: a revoked one is refused, and any other still refreshes (after
    // the introspections above: a refresh may retire the old access token).
    let mut refresh_lost = 0;
    let mut refresh_undone = 0;
    for issued in &tally.issued {
        let (Some(refresh), false) = (&issued.refresh, issued.revoked == Revoked::Unknown) else {
            continue;
        };
        let (status, text) =
            check.post("/o/token/", &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await.unwrap();
        match (issued.revoked, status) {
            (Revoked::Refresh, StatusCode::BAD_REQUEST) => assert!(text.contains("invalid_grant"), "{text}"),
            (Revoked::Refresh, _) => refresh_undone += 1,
            (_, StatusCode::OK) => {}
            _ => refresh_lost += 1,
        }
    }
    let refreshes = tally.issued.iter().filter(|i| i.refresh.is_some()).count();
    eprintln!(
        "crash ({}): SIGKILL after {:.2} s; {} tokens ({refreshes} with a refresh token) and {revocations} \
         revocations answered 200; {} requests cut, {} refused; after the restart: {lost} tokens inactive, \
         {missing} missing, {undone} revocations undone ({rows_unrevoked} rows unrevoked), {refresh_lost} \
         refresh tokens refused, {refresh_undone} refresh revocations undone",
        backend.name(),
        killed_after.as_secs_f64(),
        tally.issued.len(),
        tally.cut,
        tally.refused,
    );
    assert_eq!(
        (lost, missing, undone, rows_unrevoked, refresh_lost, refresh_undone),
        (0, 0, 0, 0, 0, 0),
        "answered 200 but gone after the crash, of {} tokens: (tokens inactive, rows missing, revocations \
         undone, revoked rows unrevoked, refresh tokens refused, refresh revocations undone)",
        tally.issued.len()
    );
}

/// A token a client received in a whole `200` answer, and what became of its
/// revocation.
struct Issued {
    access: String,
    /// The password grant's; client credentials get none (RFC 6749 §4.4.3).
    refresh: Option<String>,
    revoked: Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoked {
    /// Never asked for.
    No,
    /// Asked for, and no answer came before the kill: either outcome is right.
    Unknown,
    /// The access token's revocation was answered `200`.
    Access,
    /// The refresh token's revocation was answered `200`; it takes the access token
    /// issued with it along (RFC 7009 §2.1).
    Refresh,
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    issued: Vec<Issued>,
    /// Requests sent before the kill that got no answer: cut by it.
    cut: usize,
    /// Requests sent after it, to a server that was gone.
    refused: usize,
}

/// A request that got no answer; `true` if it was sent before the kill.
#[derive(Debug)]
struct NoAnswer(bool);

impl Tally {
    fn count(&mut self, NoAnswer(before_kill): NoAnswer) {
        if before_kill {
            self.cut += 1;
        } else {
            self.refused += 1;
        }
    }
}

/// The clients' shared view of the server, as a confidential client.
struct Load {
    http: reqwest::Client,
    base: String,
    client_id: String,
    secret: String,
    /// Set just before the SIGKILL is sent: no request may fail before it.
    killed: AtomicBool,
    /// Tokens answered so far, over all clients.
    issued: AtomicUsize,
    /// Revocations answered so far.
    revoked: AtomicUsize,
}

impl Load {
    fn new(base: &str, client_id: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap(),
            base: base.to_owned(),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            killed: AtomicBool::new(false),
            issued: AtomicUsize::new(0),
            revoked: AtomicUsize::new(0),
        }
    }

    /// Posts a form with the client's Basic credentials: the whole answer, or
    /// [`NoAnswer`] if the connection failed before it was read to the end, which only
    /// the kill may cause.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(StatusCode, String), NoAnswer> {
        let before_kill = !self.killed.load(Ordering::SeqCst);
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(form)
            .send()
            .await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                response.text().await.map(|text| (status, text))
            }
            Err(error) => Err(error),
        };
        answer.map_err(|error| {
            assert!(self.killed.load(Ordering::SeqCst), "{path} failed before the kill: {error}");
            NoAnswer(before_kill)
        })
    }

    /// [`Load::post`] that must be answered `200` with JSON.
    async fn post_json(&self, path: &str, form: &[(&str, &str)]) -> Value {
        match self.post(path, form).await {
            Ok((StatusCode::OK, text)) => serde_json::from_str(&text).unwrap(),
            Ok((status, text)) => panic!("{path}: {status} {text}"),
            Err(_) => panic!("{path}: no answer"),
        }
    }
}

/// One client: takes tokens until the server is gone, revoking every
/// [`REVOKE_EVERY`]th at once (with the password grant, alternately by its access and
/// its refresh token).
async fn client(load: Arc<Load>, password: bool) -> Tally {
    let mut tally = Tally::default();
    let form: &[(&str, &str)] = if password {
        &[("grant_type", "password"), ("username", USERNAME), ("password", PASSWORD)]
    } else {
        &[("grant_type", "client_credentials")]
    };
    let mut count = 0;
    while !load.killed.load(Ordering::SeqCst) {
        let body = match load.post("/o/token/", form).await {
            Ok((StatusCode::OK, text)) => serde_json::from_str::<Value>(&text).unwrap(),
            Ok((status, text)) => panic!("token request: {status} {text}"),
            Err(no_answer) => {
                tally.count(no_answer);
                break;
            }
        };
        load.issued.fetch_add(1, Ordering::SeqCst);
        count += 1;
        let mut issued = Issued {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
            revoked: Revoked::No,
        };
        assert_eq!(issued.refresh.is_some(), password, "{body}");
        if count % REVOKE_EVERY == 0 {
            let (token, hint, revoked) = match &issued.refresh {
                Some(refresh) if count % (2 * REVOKE_EVERY) == 0 => {
                    (refresh.clone(), "refresh_token", Revoked::Refresh)
                }
                _ => (issued.access.clone(), "access_token", Revoked::Access),
            };
            issued.revoked = Revoked::Unknown;
            match load.post("/o/revoke_token/", &[("token", &token), ("token_type_hint", hint)]).await {
                Ok((StatusCode::OK, _)) => {
                    issued.revoked = revoked;
                    load.revoked.fetch_add(1, Ordering::SeqCst);
                }
                Ok((status, text)) => panic!("revocation: {status} {text}"),
                Err(no_answer) => {
                    tally.count(no_answer);
                    tally.issued.push(issued);
                    break;
                }
            }
        }
        tally.issued.push(issued);
    }
    tally
}
