//! A real server per test: its own database (a SQLite file in a temporary directory, or
//! a fresh PostgreSQL database), a clock the test controls, and real HTTP on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use portcullis::clock::ManualClock;
use portcullis::config::Config;
use portcullis::http::server::serve;
use portcullis::http::{router, AppState};
use portcullis::proto::{AccessTokenFormat, ClientType, GrantType, SigningAlgorithm};
use portcullis::store::{self, ApplicationSettings, NewUser, Store, User};
use portcullis_axum::ScopeSet;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// Test databases made on the PostgreSQL server during this run, dropped at the end.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Keeps a test's database alive: the temporary directory for SQLite.
pub struct DbGuard {
    pub url: String,
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

/// A new, migrated, empty store, and its URL.
pub async fn fresh_database(backend: Backend) -> (String, DbGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("portcullis.db");
            let url = format!("sqlite://{}", path.display());
            (url.clone(), DbGuard { url, sqlite_path: Some(path), _dir: Some(dir) })
        }
        Backend::Postgres => {
            let admin_url = postgres_url().expect("TEST_DATABASE_URL");
            let name = format!("portcullis_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            CREATED.lock().unwrap().push(name.clone());
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&name);
            (url.to_string(), DbGuard { url: url.to_string(), sqlite_path: None, _dir: None })
        }
    }
}

pub async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, DbGuard) {
    let (url, guard) = fresh_database(backend).await;
    let store = store::connect_with(&url, TEST_POOL_SIZE).await.unwrap();
    store.migrate().await.unwrap();
    (store, guard)
}

/// Drops the PostgreSQL databases this run created, and those left by earlier runs
/// whose process is gone.
pub async fn drop_test_databases() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let mut names: Vec<String> = std::mem::take(&mut *CREATED.lock().unwrap());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(admin) => admin,
        Err(e) => return eprintln!("note: cannot drop test databases: {e}"),
    };
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'portcullis\\_test\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for name in existing {
        let pid = name.split('_').nth(2).unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            names.push(name);
        }
    }
    for name in names {
        if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await {
            eprintln!("note: cannot drop test database {name}: {e}");
        }
    }
}

/// An application as a test registers it, which [`TestApp::client_with`] lets the test
/// change before it is stored.
pub struct Registration {
    /// What the application's registrant chooses.
    pub settings: ApplicationSettings,
    /// The user who owns it, if any.
    pub owner_id: Option<i64>,
}

/// A registered client, with its secret in plain text as the registrant saw it once.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub secret: Option<String>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an OAuth error answer: status, `error` code, JSON body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json()["error"], code, "body: {}", self.text);
    }

    /// Asserts a 200 token answer with the headers RFC 6749 §5.1 requires, and returns
    /// its body.
    #[track_caller]
    pub fn assert_token(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        // RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control"
        // response header field [RFC2616] with a value of "no-store" in any response
        // containing tokens, credentials, or other sensitive information, as well as the
        // "Pragma" response header field [RFC2616] with a value of "no-cache"."
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        assert!(self.header("content-type").unwrap_or("").starts_with("application/json"));
        let body = self.json();
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32));
        body
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub db: DbGuard,
    server: tokio::task::JoinHandle<()>,
}

/// Few connections per test, so parallel tests stay under PostgreSQL's limit.
const TEST_POOL_SIZE: u32 = 4;

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let store = self.store.clone();
        // Release the connections now rather than whenever the last handle goes.
        tokio::spawn(async move { store.close().await });
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.oauth2.scopes.insert("introspection".into(), "Introspect tokens".into());
        config.storage.pool_size = TEST_POOL_SIZE;
        configure(&mut config);
        let (url, db) = fresh_database(backend).await;
        let store = store::connect_with_options(&url, &config.storage.connect_options()).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let state = AppState::new(store.clone(), config, clock.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let router = router(state);
        let server = tokio::spawn(async move {
            let _ = serve(listener, router, std::future::pending()).await;
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: format!("http://{addr}"), http, store, clock, db, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A user with password [`PASSWORD`].
    pub async fn user(&self, username: &str) -> User {
        let hash = portcullis::password::hash(PASSWORD).unwrap();
        self.store
            .create_user(&NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                first_name: "First".into(),
                last_name: "Last".into(),
                password_hash: Some(hash),
                is_staff: false,
                is_superuser: false,
                date_joined: self.clock_now(),
            })
            .await
            .unwrap()
    }

    /// A staff member with password [`PASSWORD`] (no names, unlike [`TestApp::user`]).
    pub async fn staff_user(&self, username: &str) -> User {
        self.store
            .create_user(&NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                first_name: String::new(),
                last_name: String::new(),
                password_hash: Some(portcullis::password::hash(PASSWORD).unwrap()),
                is_staff: true,
                is_superuser: false,
                date_joined: self.clock_now(),
            })
            .await
            .unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use portcullis::clock::Clock;
        self.clock.now()
    }

    /// Registers an application the way `portcullis app create` does.
    pub async fn client(&self, client_type: ClientType, grants: &[GrantType], scopes: Option<&str>) -> Client {
        self.client_with(client_type, grants, scopes, |_| {}).await
    }

    /// [`TestApp::client`], with the registration changed by `adjust` before it is stored.
    pub async fn client_with(
        &self,
        client_type: ClientType,
        grants: &[GrantType],
        scopes: Option<&str>,
        adjust: impl FnOnce(&mut Registration),
    ) -> Client {
        let secret = (client_type == ClientType::Confidential).then(portcullis::crypto::Secret::generate);
        let client_id = portcullis::crypto::random_string(24);
        let mut app = Registration {
            settings: ApplicationSettings {
                name: "Test app".into(),
                client_type,
                grant_types: grants.to_vec(),
                allowed_scopes: scopes.map(|s| ScopeSet::parse(s).unwrap()),
                ..ApplicationSettings::default()
            },
            owner_id: None,
        };
        adjust(&mut app);
        let hash = secret.as_ref().map(|s| s.hash());
        self.store
            .create_application(&client_id, hash.as_ref(), app.owner_id, &app.settings, self.clock_now())
            .await
            .unwrap();
        Client { client_id, secret: secret.map(|s| s.expose().to_owned()) }
    }

    /// A confidential client of the password and client-credentials grants whose access
    /// tokens are JWTs signed with `algorithm`.
    pub async fn jwt_client(&self, algorithm: &str) -> Client {
        let grants = [GrantType::Password, GrantType::ClientCredentials];
        self.client_with(ClientType::Confidential, &grants, None, |app| {
            app.settings.algorithm = SigningAlgorithm::parse(algorithm).unwrap();
            app.settings.access_token_format = AccessTokenFormat::Jwt;
        })
        .await
    }

    /// A confidential client allowed the password and client-credentials grants.
    pub async fn confidential(&self) -> Client {
        self.client(ClientType::Confidential, &[GrantType::Password, GrantType::ClientCredentials], None).await
    }

    /// POSTs a form to `path`, with HTTP Basic when `basic` is given.
    pub async fn post_form(&self, path: &str, basic: Option<&Client>, form: &[(&str, &str)]) -> Answer {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(client) = basic {
            request = request.basic_auth(&client.client_id, client.secret.as_deref());
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn token(&self, client: &Client, form: &[(&str, &str)]) -> Answer {
        self.post_form("/o/token/", Some(client), form).await
    }

    /// A password-grant token answer for `username`, asserted successful.
    pub async fn password_token(&self, client: &Client, username: &str, scope: Option<&str>) -> Value {
        let mut form = vec![("grant_type", "password"), ("username", username), ("password", PASSWORD)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(client, &form).await.assert_token()
    }

    /// A client-credentials token answer for `client`, asserted successful.
    pub async fn client_credentials(&self, client: &Client) -> Value {
        self.token(client, &[("grant_type", "client_credentials")]).await.assert_token()
    }

    pub async fn status_with_token(&self, path: &str, token: &str) -> StatusCode {
        self.get_with_token(path, token).await.status
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Answer {
        read(self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()).await
    }

    pub async fn introspect(&self, caller: &Client, token: &str) -> Value {
        let answer = self.post_form("/o/introspect/", Some(caller), &[("token", token)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        answer.json()
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer { status, headers, text }
}

/// A browser: keeps cookies, does not follow redirects (tests look at each one).
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: app.base.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// Posts a form as is (tests of CSRF refusal use this directly).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        read(self.http.post(self.url(path)).form(form).send().await.unwrap()).await
    }

    /// Loads `page`, takes the CSRF token from its form, and posts `form` with it to
    /// `action`, as a person filling in the form would.
    pub async fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Answer {
        let html = self.get(page).await;
        assert_eq!(html.status, StatusCode::OK, "{page}: {}", html.text);
        let token = csrf_token(&html.text);
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", &token));
        self.post(action, &fields).await
    }

    /// Logs in through the login form; asserts success.
    pub async fn login(&self, username: &str, password: &str) {
        let answer = self
            .submit("/accounts/login/", "/accounts/login/", &[("username", username), ("password", password)])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "login failed: {}", answer.text);
    }
}

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_token(html: &str) -> String {
    hidden_field(html, "csrf_token").unwrap_or_else(|| panic!("no csrf_token in page: {html}"))
}

/// The value of a hidden (or any) input named `name`, HTML entities for `&` and quotes
/// decoded.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    hidden_fields(html, name).into_iter().next()
}

/// The values of every input named `name`, in page order (a parameter that repeats,
/// such as RFC 8707 `resource`).
pub fn hidden_fields(html: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let mut values = Vec::new();
    let mut rest = html;
    while let Some(found) = rest.find(&marker) {
        rest = &rest[found + marker.len()..];
        let Some(end) = rest.find('"') else { break };
        let raw = &rest[..end];
        values.push(raw.replace("&amp;", "&").replace("&quot;", "\"").replace("&#x27;", "'").replace("&#x2f;", "/"));
    }
    values
}

impl Answer {
    /// The `Location` header of a redirect.
    #[track_caller]
    pub fn location(&self) -> String {
        assert!(self.status.is_redirection(), "not a redirect: {} {}", self.status, self.text);
        self.header("location").unwrap().to_owned()
    }
}

/// The `portcullis` binary: the release build when `PORTCULLIS_BIN` names it (as CI
/// does), the test build otherwise.
pub fn binary() -> PathBuf {
    std::env::var_os("PORTCULLIS_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_portcullis").into())
}

/// A real `portcullis serve` process on a port of its own, killed when dropped.
pub struct Instance {
    /// `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub base: String,
    pub child: tokio::process::Child,
    /// Everything it wrote to stderr and stdout, line by line, when started with
    /// [`Instance::start_capturing`]; empty otherwise.
    pub log: Arc<Mutex<String>>,
}

impl Instance {
    /// Starts `portcullis serve` on `database_url`, with `env` added to its
    /// environment, and waits until it listens. Its issuer names its own port.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(database_url, env, None, false).await
    }

    /// [`Instance::start`], serving https with the PEM files `certificate` and `key`
    /// given on the command line.
    pub async fn start_tls(
        database_url: &str,
        env: &[(&str, &str)],
        certificate: &std::path::Path,
        key: &std::path::Path,
    ) -> Self {
        Self::launch(database_url, env, Some((certificate, key)), false).await
    }

    /// [`Instance::start`], keeping all its output in [`Instance::log`].
    pub async fn start_capturing(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(database_url, env, None, true).await
    }

    async fn launch(
        database_url: &str,
        env: &[(&str, &str)],
        tls: Option<(&std::path::Path, &std::path::Path)>,
        capture: bool,
    ) -> Self {
        use tokio::io::AsyncBufReadExt;
        // A port chosen first, so that the issuer (which relying parties compare with
        // the address they discovered it at) can name it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut command = tokio::process::Command::new(binary());
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("PORTCULLIS_OIDC_ISSUER", format!("{scheme}://127.0.0.1:{port}/o"))
            .env("DATABASE_URL", database_url)
            .env_remove("PORTCULLIS_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(if capture { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some((certificate, key)) = tls {
            command.arg("--tls-certificate").arg(certificate).arg("--tls-private-key").arg(key);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let keep = move |log: &Arc<Mutex<String>>, line: &str| {
            if capture {
                let mut log = log.lock().unwrap();
                log.push_str(line);
                log.push('\n');
            }
        };
        if let Some(stdout) = child.stdout.take() {
            let log = log.clone();
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    keep(&log, &line);
                }
            });
        }
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let marker = format!("listening on {scheme}://");
        let base = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                keep(&log, &line);
                if let Some(at) = line.find(&marker) {
                    return line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .unwrap();
        // Keep draining the log so the server never blocks on a full pipe.
        let drained = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&drained, &line);
            }
        });
        Self { base, child, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Runs a `portcullis` command on the database at `url`, as an operator would, and
/// returns its standard output; fails the test if the command fails.
pub async fn portcullis(url: &str, args: &[&str], stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(binary())
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("PORTCULLIS_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "portcullis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every table of the database at `url`, by name, with the SHA-256 of each of its rows
/// (sorted): two snapshots are equal when no row was added, removed or changed. Read
/// over a connection of its own, so that nothing the server caches can hide a change.
pub async fn snapshot(url: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    use sha2::{Digest, Sha256};
    let mut tables = std::collections::BTreeMap::new();
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.unwrap();
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        for name in names {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                .bind(&name)
                .fetch_all(&mut db)
                .await
                .unwrap();
            // quote() writes every value, blobs and NULL included, as an SQL literal.
            let row = columns.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {row} FROM \"{name}\"")).fetch_all(&mut db).await.unwrap();
            tables.insert(name, rows);
        }
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.unwrap();
        let names: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut db)
                .await
                .unwrap();
        for name in names {
            // A row cast to text is every column's value, in order.
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{name}\" AS t")).fetch_all(&mut db).await.unwrap();
            tables.insert(name, rows);
        }
    }
    tables
        .into_iter()
        .map(|(name, rows)| {
            let mut digests: Vec<String> = rows.iter().map(|r| hex::encode(Sha256::digest(r.as_bytes()))).collect();
            digests.sort();
            (name, digests)
        })
        .collect()
}
