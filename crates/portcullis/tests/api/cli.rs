//! The `portcullis` binary, run as a user runs it.

use std::process::Stdio;
use std::time::Duration;

use portcullis::store::Store;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::helpers::{fresh_database, read, Backend, DbGuard};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        createsuperuser_then_a_duplicate_fails_cleanly,
        user_create_takes_the_password_from_the_environment,
        app_create_list_delete,
        app_create_rejects_bad_input_and_writes_nothing,
        unreachable_database_is_one_clear_line,
        bad_settings_name_the_key,
        cleartokens_reports_what_it_removed,
        keys_rotate_and_list,
        serve_issues_tokens_and_stops_on_sigterm,
        database_url_passwords_are_never_shown,
        unknown_environment_variables_are_named_at_start,
        a_browser_front_end_registered_as_the_tutorial_says_may_call_the_token_endpoint,
    ]
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// A failure: non-zero exit and one line on stderr.
    #[track_caller]
    pub fn assert_fails_with(&self, needle: &str) {
        assert_ne!(self.code, Some(0), "stdout: {}", self.stdout);
        assert_eq!(self.stderr.trim_end().lines().count(), 1, "one line: {:?}", self.stderr);
        assert!(self.stderr.contains(needle), "{needle:?} not in {:?}", self.stderr);
    }
}

fn command(db: &DbGuard, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    // Only the variables a test gives: the test run's own `PORTCULLIS_*` (such as
    // `PORTCULLIS_BIN`, which CI sets) would change settings or draw warnings.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PORTCULLIS_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    command
}

/// Runs a `portcullis` command to its end; it may fail.
pub async fn run(db: &DbGuard, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = command(db, args);
    command.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn open_store(db: &DbGuard) -> std::sync::Arc<dyn Store> {
    portcullis::store::connect(&db.url).await.unwrap()
}

async fn createsuperuser_then_a_duplicate_fails_cleanly(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let args = ["createsuperuser", "--username", "admin", "--email", "admin@example.com", "--password-stdin"];
    let first = run(&db, &args, Some("s3cure-passphrase\n"), &[]).await;
    first.assert_ok();
    assert!(first.stdout.contains("created superuser admin"), "{}", first.stdout);
    let admin = open_store(&db).await.user_by_username("admin").await.unwrap().unwrap();
    assert!(admin.is_staff && admin.is_superuser && admin.is_active);
    assert!(admin.password_hash.unwrap().starts_with("$argon2id$"));
    run(&db, &args, Some("another-passphrase\n"), &[]).await.assert_fails_with("already exists");
    let bad_name = ["createsuperuser", "--username", "a b", "--email", "x@y.z", "--password-stdin"];
    run(&db, &bad_name, Some("s3cure-passphrase\n"), &[]).await.assert_fails_with("username");
}

async fn user_create_takes_the_password_from_the_environment(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let args = ["user", "create", "--username", "bob", "--email", "bob@example.com", "--no-input"];
    run(&db, &args, None, &[]).await.assert_fails_with("PORTCULLIS_USER_PASSWORD");
    run(&db, &args, None, &[("PORTCULLIS_USER_PASSWORD", "short")]).await.assert_fails_with("at least 8");
    assert!(open_store(&db).await.user_by_username("bob").await.unwrap().is_none(), "nothing half-written");
    run(&db, &args, None, &[("PORTCULLIS_USER_PASSWORD", "long enough pass")]).await.assert_ok();
    let bob = open_store(&db).await.user_by_username("bob").await.unwrap().unwrap();
    assert!(!bob.is_staff && !bob.is_superuser);
    assert!(portcullis::password::verify("long enough pass", bob.password_hash.as_deref()));
}

async fn app_create_list_delete(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let created = run(
        &db,
        &[
            "app",
            "create",
            "--name",
            "Web shop",
            "--client-type",
            "confidential",
            "--grant-type",
            "authorization-code",
            "--grant-type",
            "password",
            "--grant-type",
            "client-credentials",
            "--redirect-uri",
            "https://shop.example/cb",
            "--post-logout-redirect-uri",
            "https://shop.example/bye",
            "--allowed-origin",
            "https://shop.example",
            "--scope",
            "read",
            "--scope",
            "write",
            "--skip-authorization",
            "--json",
        ],
        None,
        &[],
    )
    .await;
    created.assert_ok();
    let app: Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(app["post_logout_redirect_uris"], serde_json::json!(["https://shop.example/bye"]));
    assert_eq!(app["allowed_origins"], serde_json::json!(["https://shop.example"]));
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(app["name"], "Web shop");
    assert_eq!(app["client_type"], "confidential");
    assert_eq!(app["grant_types"], serde_json::json!(["authorization-code", "password", "client-credentials"]));
    assert_eq!(app["redirect_uris"], serde_json::json!(["https://shop.example/cb"]));
    assert_eq!(app["access_token_format"], "opaque", "opaque unless asked");
    // The command line is staff's: it may let an application skip the consent page and
    // give any grant, as the self-service pages do not let other users.
    assert_eq!(app["skip_authorization"], true);

    let public_args = ["app", "create", "--name", "CLI", "--client-type", "public", "--grant-type", "password"];
    let jwt = run(&db, &[&public_args[..], &["--access-token-format", "macaroon"]].concat(), None, &[]).await;
    jwt.assert_fails_with("macaroon");
    let public = run(&db, &[&public_args[..], &["--access-token-format", "jwt"]].concat(), None, &[]).await;
    public.assert_ok();
    assert!(public.stdout.contains("client_id: "));
    assert!(!public.stdout.contains(secret));

    // Global options after the subcommand.
    let mut listing = command(&db, &["app", "list", "--json", "--database-url", &db.url]);
    listing.env_remove("DATABASE_URL");
    let out = listing.output().await.unwrap();
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "the refused command wrote nothing");
    assert_eq!(list[1]["access_token_format"], "jwt");
    assert_eq!(list[1]["skip_authorization"], false, "asked for only with --skip-authorization");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret), "the secret is shown once");

    run(&db, &["app", "delete", &client_id], None, &[]).await.assert_ok();
    run(&db, &["app", "delete", &client_id], None, &[]).await.assert_fails_with("no application");
    let left = run(&db, &["app", "list", "--json"], None, &[]).await;
    assert_eq!(serde_json::from_str::<Value>(&left.stdout).unwrap().as_array().unwrap().len(), 1);
}

async fn app_create_rejects_bad_input_and_writes_nothing(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let base = ["app", "create", "--name", "X", "--client-type"];
    let cases: &[(&[&str], &str)] = &[
        (&["confidential", "--grant-type", "teleport"], "unknown grant type"),
        (&["confidential", "--grant-type", "authorization-code", "--redirect-uri", "/relative"], "not an absolute URI"),
        (&["confidential", "--grant-type", "authorization-code", "--redirect-uri", "https://a.example/#f"], "fragment"),
        (&["confidential", "--grant-type", "authorization-code", "--redirect-uri", "ftp://a.example/"], "scheme"),
        (&["confidential", "--grant-type", "authorization-code"], "redirect-uri"),
        // The rule, and what a public client (a browser or mobile front end) uses instead.
        (&["public", "--grant-type", "client-credentials"], "needs a confidential client (RFC 6749 §4.4)"),
        (&["public", "--grant-type", "client-credentials"], "use authorization-code with PKCE instead"),
        (&["confidential", "--grant-type", "password", "--scope", "admin"], "not one of the configured scopes"),
        (&["confidential", "--grant-type", "password", "--owner", "ghost"], "ghost"),
        (
            &["public", "--grant-type", "device-code", "--allowed-origin", "http://localhost:5173/"],
            "--allowed-origin: ",
        ),
        (&["public", "--grant-type", "device-code", "--allowed-origin", "http://localhost:5173/"], "did you mean"),
    ];
    for (rest, needle) in cases {
        let args: Vec<&str> = base.iter().chain(rest.iter()).copied().collect();
        let result = run(&db, &args, None, &[]).await;
        assert_ne!(result.code, Some(0), "{args:?}");
        assert!(result.stderr.contains(needle), "{args:?}: {needle:?} not in {:?}", result.stderr);
    }
    let store = open_store(&db).await;
    store.migrate().await.unwrap();
    assert!(store.list_applications().await.unwrap().is_empty());
}

async fn unreachable_database_is_one_clear_line(backend: Backend) {
    let (_, mut db) = fresh_database(backend).await;
    db.url = "postgres://nobody@127.0.0.1:1/nothing".into();
    run(&db, &["app", "list"], None, &[]).await.assert_fails_with("cannot connect to PostgreSQL");
    db.url = "mysql://localhost/x".into();
    run(&db, &["migrate"], None, &[]).await.assert_fails_with("unsupported database URL");
}

async fn bad_settings_name_the_key(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[oauth2]\naccess_token_expire_seconds = \"ten hours\"\n").unwrap();
    let path = file.to_str().unwrap();
    run(&db, &["migrate", "--config", path], None, &[]).await.assert_fails_with("oauth2.access_token_expire_seconds");
    std::fs::write(&file, "[oauth2]\nrotate_refresh_token = false\n").unwrap();
    run(&db, &["migrate", "--config", path], None, &[("PORTCULLIS_DEVICE_FLOW_INTERVAL", "soon")])
        .await
        .assert_fails_with("PORTCULLIS_DEVICE_FLOW_INTERVAL");
    run(&db, &["migrate", "--config", "/nonexistent/portcullis.toml"], None, &[])
        .await
        .assert_fails_with("cannot read");
    run(&db, &["migrate", "--config", path], None, &[]).await.assert_ok();
    // The durability setting is read by every command, since every one opens the store.
    let durability = "PORTCULLIS_STORAGE_SQLITE_DURABILITY";
    run(&db, &["migrate"], None, &[(durability, "fast")]).await.assert_fails_with("storage.sqlite_durability");
    run(&db, &["migrate"], None, &[(durability, "full")]).await.assert_ok();
}

async fn cleartokens_reports_what_it_removed(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let out = run(&db, &["cleartokens"], None, &[]).await;
    out.assert_ok();
    assert!(out.stdout.contains("deleted 0 access tokens, 0 refresh tokens, 0 authorization codes"), "{}", out.stdout);
}

async fn keys_rotate_and_list(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let out = run(&db, &["keys", "list"], None, &[]).await;
    out.assert_ok();
    assert!(out.stdout.contains("no signing keys"), "{}", out.stdout);
    let list = |env: &'static [(&'static str, &'static str)]| {
        let db = &db;
        async move {
            let out = run(db, &["keys", "list", "--json"], None, env).await;
            out.assert_ok();
            serde_json::from_str::<Value>(&out.stdout).unwrap()
        }
    };
    let kek: &[(&str, &str)] =
        &[("PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")];
    let first = run(&db, &["keys", "rotate"], None, kek).await;
    first.assert_ok();
    assert_eq!(first.stdout.lines().filter(|l| l.starts_with("new signing key ")).count(), 3, "{}", first.stdout);
    let keys = list(&[]).await;
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["retired_at"].is_null() && k["encrypted"] == true), "{keys:?}");
    // A second rotation retires the first three, and keeps them.
    run(&db, &["keys", "rotate"], None, kek).await.assert_ok();
    let keys = list(&[]).await;
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 6);
    assert_eq!(keys.iter().filter(|k| k["retired_at"].is_null()).count(), 3);
    let algorithms: std::collections::BTreeSet<&str> = keys.iter().map(|k| k["algorithm"].as_str().unwrap()).collect();
    assert_eq!(algorithms.into_iter().collect::<Vec<_>>(), ["ES256", "EdDSA", "RS256"]);
    // A bad key-encryption key stops the command before anything is written, and the
    // message never repeats the value.
    let bad = run(&db, &["keys", "rotate"], None, &[("PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY", "dG9vLXNob3J0")]).await;
    bad.assert_fails_with("oidc.key_encryption_key");
    assert!(!bad.stderr.contains("dG9vLXNob3J0"), "{}", bad.stderr);
    assert_eq!(list(&[]).await.as_array().unwrap().len(), 6);
}

/// The README's walk-through, through the real binary: create a user and an app, serve,
/// get a token with Basic authentication and the password grant, call the API, stop.
async fn serve_issues_tokens_and_stops_on_sigterm(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    run(
        &db,
        &["user", "create", "--username", "alice", "--email", "a@example.com", "--password-stdin"],
        Some("alice-passphrase\n"),
        &[],
    )
    .await
    .assert_ok();
    let created = run(
        &db,
        &["app", "create", "--name", "Tutorial", "--client-type", "confidential", "--grant-type", "password", "--json"],
        None,
        &[],
    )
    .await;
    let app: Value = serde_json::from_str(&created.assert_ok().stdout).unwrap();
    let (client_id, secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());

    let mut server = command(&db, &["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                return line[at + "listening on ".len()..].trim().to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .unwrap();
    let log = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });

    let http = reqwest::Client::new();
    let token = read(
        http.post(format!("{base}/o/token/"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "password"), ("username", "alice"), ("password", "alice-passphrase")])
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_token();
    let access = token["access_token"].as_str().unwrap();
    let me = read(http.get(format!("{base}/api/me/")).bearer_auth(access).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");

    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    let log = log.await.unwrap().join("\n");
    for secret in [secret, access, token["refresh_token"].as_str().unwrap(), "alice-passphrase"] {
        assert!(!log.contains(secret), "a credential reached the log");
    }
}

/// A database URL's password is never printed, whatever is wrong with the URL: a
/// mistyped scheme, a server that does not answer, a file that cannot be opened.
async fn database_url_passwords_are_never_shown(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let quick = [("PORTCULLIS_STORAGE_POOL_TIMEOUT_SECONDS", "1")];
    for (url, needle) in [
        ("postgress://app:S3cret@db/auth", "unsupported database URL \"postgress://app:***@db/auth\""),
        (
            "postgres://app:S3cret@127.0.0.1:1/auth",
            "cannot connect to PostgreSQL at postgres://app:***@127.0.0.1:1/auth",
        ),
        // An `@` in the password, percent-encoded or as typed.
        ("postgres://app:p%40S3cret@127.0.0.1:1/auth", "postgres://app:***@127.0.0.1:1/auth"),
        ("postgres://app:p@S3cret@127.0.0.1:1/auth", "postgres://app:***@127.0.0.1:1/auth"),
        ("sqlite://app:S3cret@/nonexistent/dir/auth.db", "cannot open sqlite://app:***@/nonexistent/dir/auth.db"),
    ] {
        let out = run(&db, &["migrate", "--database-url", url], None, &quick).await;
        out.assert_fails_with(needle);
        assert!(!out.stderr.contains("S3cret"), "{url}: {}", out.stderr);
        // The same from the environment.
        let mut from_env = command(&db, &["migrate"]);
        from_env.env("DATABASE_URL", url).envs(quick);
        let out = from_env.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("app:***@"), "{url}: {stderr}");
        assert!(!stderr.contains("S3cret"), "{url}: {stderr}");
    }
}

/// `portcullis serve` with `env`, until it listens: what it wrote to stderr by then.
async fn serve_start_log(db: &DbGuard, env: &[(&str, &str)]) -> String {
    let mut server = command(db, &["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let log = tokio::time::timeout(Duration::from_secs(30), async {
        let mut log = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if line.contains("listening on http://") {
                return log;
            }
        }
        panic!("the server exited before listening: {log}");
    })
    .await
    .unwrap();
    server.kill().await.unwrap();
    log
}

/// A misspelt setting in `portcullis.toml` stops the command; the same typo in a
/// `PORTCULLIS_*` variable is named in a warning at start, by every command.
async fn unknown_environment_variables_are_named_at_start(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let typos = [
        ("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS", "5"),
        // A misspelt secret: the warning names the variable, never its value.
        ("PORTCULLIS_OIDC_KEY_ENCRYPTON_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
    ];
    let log = serve_start_log(&db, &typos).await;
    let warning = log.lines().find(|l| l.contains("PORTCULLIS_ACCES_TOKEN_EXPIRE_SECONDS")).unwrap_or_default();
    assert!(warning.contains("WARN"), "{log}");
    assert!(warning.contains("is not a setting"), "{warning}");
    assert!(warning.contains("did you mean PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS?"), "{warning}");
    let warning = log.lines().find(|l| l.contains("PORTCULLIS_OIDC_KEY_ENCRYPTON_KEY")).unwrap_or_default();
    assert!(warning.contains("did you mean PORTCULLIS_OIDC_KEY_ENCRYPTION_KEY?"), "{log}");
    assert!(!log.contains(typos[1].1), "{log}");

    // Settings, and the command line's own variables, draw no warning.
    let settings_file = tempfile::NamedTempFile::new().unwrap();
    let known = [
        ("PORTCULLIS_ACCESS_TOKEN_EXPIRE_SECONDS", "5"),
        ("PORTCULLIS_OIDC_ISSUER", "http://127.0.0.1:8000/o"),
        ("PORTCULLIS_CONFIG", settings_file.path().to_str().unwrap()),
        ("PORTCULLIS_USER_PASSWORD", "not read by serve"),
    ];
    let log = serve_start_log(&db, &known).await;
    assert!(!log.contains("WARN") && !log.contains("is not a setting"), "{log}");

    // Other commands warn too, and go on.
    let migrate = run(&db, &["migrate"], None, &[("PORTCULLIS_OAUTH2_PKCE_REQUIRED", "false")]).await;
    migrate.assert_ok();
    assert!(
        migrate.stderr.contains(
            "PORTCULLIS_OAUTH2_PKCE_REQUIRED is not a setting and is ignored (did you mean PORTCULLIS_PKCE_REQUIRED?)"
        ),
        "{}",
        migrate.stderr
    );
}

/// The README's "A browser front end": a public client registered with its redirect URI
/// and its origin (`--allowed-origin`) may call the token endpoint from that origin
/// (CORS), and only from it.
async fn a_browser_front_end_registered_as_the_tutorial_says_may_call_the_token_endpoint(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let created = run(
        &db,
        &[
            "app",
            "create",
            "--name",
            "Photo viewer",
            "--client-type",
            "public",
            "--grant-type",
            "authorization-code",
            "--redirect-uri",
            "http://localhost:5173/callback",
            "--allowed-origin",
            "http://localhost:5173",
            "--json",
        ],
        None,
        &[],
    )
    .await;
    created.assert_ok();
    let app: Value = serde_json::from_str(&created.stdout).unwrap();
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let server = crate::helpers::Instance::start(&db.url, &[]).await;
    let http = reqwest::Client::new();
    let exchange = |origin: &'static str| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", "made-up"),
            ("redirect_uri", "http://localhost:5173/callback"),
            ("client_id", client_id.as_str()),
            ("code_verifier", "a-verifier-of-at-least-forty-three-characters-long"),
        ];
        http.post(server.url("/o/token/")).header("Origin", origin).form(&form).send()
    };
    // The browser asks first (a preflight), then reads the answer: both allowed.
    let preflight = http
        .request(reqwest::Method::OPTIONS, server.url("/o/token/"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://localhost:5173");
    let answer = exchange("http://localhost:5173").await.unwrap();
    assert_eq!(answer.status(), 400, "a made-up code: invalid_grant, readable by the app");
    assert_eq!(answer.headers()["access-control-allow-origin"], "http://localhost:5173");
    // Another site's pages may not read it.
    let elsewhere = exchange("https://evil.example").await.unwrap();
    assert!(elsewhere.headers().get("access-control-allow-origin").is_none());
}
