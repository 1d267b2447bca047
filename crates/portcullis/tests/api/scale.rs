//! Scale-out: three `portcullis serve` processes on one PostgreSQL database
//! behave as one server. Each is a real process, with its own cache and connections.

use std::time::Duration;

use futures::future::join_all;
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::{ApplicationSettings, NewUser, Store};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;
use tokio::time::Instant;

use crate::helpers::{csrf_token, fresh_database, Backend, Client, Instance, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        three_instances_behave_as_one,
        instances_reach_postgres_over_tls,
        guesses_sent_at_once_to_two_instances_share_one_limit
    ]
}

/// A database across a network is reached over TLS: `sslmode=require` in the URL
/// (the CI's PostgreSQL, like Debian's default cluster, has TLS on).
async fn instances_reach_postgres_over_tls(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let mut url = url::Url::parse(&url).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "require");
    let options = portcullis::store::ConnectOptions { pool_size: 1, ..Default::default() };
    let store = portcullis::store::PostgresStore::connect_with_options(url.as_str(), &options).await.unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(ssl, "the connection is encrypted");
    // And the server works over it.
    portcullis::store::Maintenance::migrate(&store).await.unwrap();
    portcullis::store::Connection::close(&store).await;
}

/// The bound on how late an instance's cached checks (the API's, not introspection)
/// see a revocation made at another one: the cache's maximum age, 1 s
/// (`store::front::MAX_AGE`), reached only while the notification connection is down.
/// With notifications working, it takes milliseconds; the test allows half the bound,
/// so that a cache that merely ages out fails it.
const NOTIFIED_WITHIN: Duration = Duration::from_millis(500);

struct Cluster {
    instances: Vec<Instance>,
    http: reqwest::Client,
    app: Client,
    api: Client,
}

impl Cluster {
    async fn token(&self, at: usize, client: &Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.instances[at].url("/o/token/"))
            .basic_auth(&client.client_id, client.secret.as_deref())
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn password_token(&self, at: usize) -> Value {
        let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "read")];
        let (status, body) = self.token(at, &self.app, &form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn hello(&self, at: usize, token: &str) -> StatusCode {
        self.http.get(self.instances[at].url("/api/hello/")).bearer_auth(token).send().await.unwrap().status()
    }

    async fn active(&self, at: usize, token: &str) -> bool {
        let response = self
            .http
            .post(self.instances[at].url("/o/introspect/"))
            .basic_auth(&self.api.client_id, self.api.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["active"] == true
    }
}

/// A confidential client of `grant`.
async fn register(store: &dyn Store, grant: GrantType) -> Client {
    let secret = portcullis::crypto::Secret::generate();
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let settings = ApplicationSettings {
        name: "Scale".into(),
        client_type: ClientType::Confidential,
        grant_types: vec![grant],
        ..ApplicationSettings::default()
    };
    store.create_application(&client_id, Some(&secret.hash()), None, &settings, 0).await.unwrap();
    Client { client_id, secret: Some(secret.expose().to_owned()) }
}

/// The shared database, migrated, with user alice and two confidential clients made
/// through the library, as the command line would: one of the password grant, one of
/// client credentials (the API that introspects).
async fn seed(url: &str) -> (Client, Client) {
    let store = portcullis::store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let user = NewUser {
        username: "alice".into(),
        email: "alice@example.com".into(),
        first_name: String::new(),
        last_name: String::new(),
        password_hash: Some(portcullis::password::hash(PASSWORD).unwrap()),
        is_staff: false,
        is_superuser: false,
        date_joined: 0,
    };
    store.create_user(&user).await.unwrap();
    let app = register(store.as_ref(), GrantType::Password).await;
    let api = register(store.as_ref(), GrantType::ClientCredentials).await;
    store.close().await;
    (app, api)
}

async fn three_instances_behave_as_one(backend: Backend) {
    assert_eq!(backend, Backend::Postgres, "scale-out is PostgreSQL's");
    let (url, _db) = fresh_database(backend).await;
    let (app, api) = seed(&url).await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Instance::start(&url, &[]).await);
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cluster = Cluster { instances, http, app, api };

    // A token issued by one instance is accepted by every other.
    let issued = cluster.password_token(0).await;
    let token = issued["access_token"].as_str().unwrap();
    for at in 0..3 {
        assert_eq!(cluster.hello(at, token).await, StatusCode::OK, "instance {at} accepts instance 0's token");
        assert!(cluster.active(at, token).await, "instance {at} introspects it as active");
    }

    // A revocation at one is refused by all others: at once by introspection (RFC 7662
    // §2.2: "active … whether or not the presented token is currently active"), and
    // within the stated bound by their cached checks, which have just cached the token.
    for at in 1..3 {
        assert_eq!(cluster.hello(at, token).await, StatusCode::OK);
    }
    let revoked = cluster
        .http
        .post(cluster.instances[0].url("/o/revoke_token/"))
        .basic_auth(&cluster.app.client_id, cluster.app.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let since = Instant::now();
    for at in 1..3 {
        assert!(!cluster.active(at, token).await, "instance {at} introspects the revoked token as active");
    }
    for at in 1..3 {
        while cluster.hello(at, token).await == StatusCode::OK {
            assert!(
                since.elapsed() < NOTIFIED_WITHIN,
                "instance {at} still accepts the token {:?} after it was revoked at instance 0",
                since.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // Introspection reads the database, not the cache, so it does not depend on the
    // notification arriving first: a revocation written with the triggers off (no
    // notification; `session_replication_role = replica` skips triggers) is seen by
    // introspection at once, while the cached check still has the token for up to
    // the cache's maximum age.
    let quiet = cluster.password_token(0).await;
    let quiet = quiet["access_token"].as_str().unwrap();
    assert_eq!(cluster.hello(1, quiet).await, StatusCode::OK);
    let cached_at = Instant::now();
    let mut sql = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SET session_replication_role = replica").execute(&mut sql).await.unwrap();
    sqlx::query("UPDATE access_tokens SET revoked_at = expires_at - 1 WHERE token_hash = $1")
        .bind(portcullis::crypto::TokenHash::of(quiet).as_bytes().to_vec())
        .execute(&mut sql)
        .await
        .unwrap();
    assert!(!cluster.active(1, quiet).await, "introspection answered from the cache");
    let cached = cluster.hello(1, quiet).await;
    if cached_at.elapsed() < Duration::from_millis(900) {
        assert_eq!(cached, StatusCode::OK, "the cached check had the token (so the line above proves something)");
    }

    // A login at one instance carries on at another: the session is in the database.
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = browser.get(cluster.instances[0].url("/accounts/login/")).send().await.unwrap();
    let csrf = csrf_token(&login.text().await.unwrap());
    let form = [("username", "alice"), ("password", PASSWORD), ("csrf_token", &csrf), ("next", "/o/applications/")];
    let logged_in = browser.post(cluster.instances[0].url("/accounts/login/")).form(&form).send().await.unwrap();
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    for at in 1..3 {
        // Cookies are not per port (RFC 6265 §8.5), so the same browser sends it on.
        let page = browser.get(cluster.instances[at].url("/o/applications/")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "instance {at} knows alice's session");
    }

    // Two instances refreshing the same refresh token at the same moment: exactly one
    // winner (the store locks the token's row), whichever instances they reach.
    let fresh = cluster.password_token(0).await;
    let refresh = fresh["refresh_token"].as_str().unwrap().to_owned();
    let attempts = (0..6).map(|i| {
        let refresh = refresh.clone();
        let cluster = &cluster;
        async move {
            let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
            cluster.token(i % 3, &cluster.app, &form).await
        }
    });
    let answers = join_all(attempts).await;
    let winners = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    assert_eq!(winners, 1, "RFC 6749 §6 with rotation: one new token pair, not {winners}: {answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != StatusCode::OK) {
        assert_eq!((*status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    }
}

/// Wrong passwords for one account sent at once to two instances: each attempt takes
/// its place in the shared count (under a lock that holds across instances) before its
/// password is checked, so together they check no more than the account's limit (5).
async fn guesses_sent_at_once_to_two_instances_share_one_limit(backend: Backend) {
    assert_eq!(backend, Backend::Postgres, "scale-out is PostgreSQL's");
    let (url, _db) = fresh_database(backend).await;
    let (app, _) = seed(&url).await;
    let instances = [Instance::start(&url, &[]).await, Instance::start(&url, &[]).await];
    let http = reqwest::Client::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(24));
    let guesses = (0..24).map(|i| {
        let request = http
            .post(instances[i % 2].url("/o/token/"))
            .basic_auth(&app.client_id, app.secret.as_deref())
            .form(&[("grant_type", "password"), ("username", "alice"), ("password", &format!("wrong-{i}"))]);
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            request.send().await.unwrap().status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(guesses).await.into_iter().map(Result::unwrap).collect();
    let checked = statuses.iter().filter(|s| **s != StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s.as_u16(), 400 | 429)), "{statuses:?}");
}
