//! Nothing secret in the logs: the real binary, at its most verbose (`RUST_LOG=trace`,
//! every crate), runs every flow over HTTP and the command line; then no password,
//! client secret, code, token, device or user code, session cookie, CSRF token or PKCE
//! verifier that went by may appear in what it wrote, nor in the audit log's table,
//! not even as its hash.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use portcullis::store::{AuditFilter, AuditKind};
use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::applications::code_text;
use crate::authorize::{param, pkce, query_of};
use crate::helpers::{binary, csrf_token, fresh_database, hidden_field, read, Answer, Backend, Browser, Instance};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![every_flow_at_trace_level_logs_no_secret]
}

const REDIRECT: &str = "https://client.example/cb";
const AFTER_LOGOUT: &str = "https://client.example/bye";
const ROOT_PASSWORD: &str = "root's long password";
const ALICE_PASSWORD: &str = "alice's long password";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Every secret seen, with what it was.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to look for: {value:?}");
        self.0.push((what.to_owned(), value.to_owned()));
    }

    fn add_json(&mut self, what: &str, body: &Value, fields: &[&str]) {
        for field in fields {
            let value = body[field].as_str().unwrap_or_else(|| panic!("{what}: no {field} in {body}"));
            self.add(&format!("{what} {field}"), value);
        }
    }

    /// Each secret in the forms it could take in a log: as is, form- and
    /// percent-encoded, and (for the audit table's "not even hashed") its SHA-256 and
    /// the store's key, in hex.
    fn forms(&self) -> Vec<(String, String)> {
        let mut forms = Vec::new();
        for (what, value) in &self.0 {
            forms.push((what.clone(), value.clone()));
            forms.push((format!("{what}, form-encoded"), form_urlencoded::byte_serialize(value.as_bytes()).collect()));
            forms.push((format!("{what}, percent-encoded"), value.replace(' ', "%20").replace('\'', "%27")));
            forms.push((format!("{what}, SHA-256"), hex(&Sha256::digest(value.as_bytes()))));
            forms.push((format!("{what}, stored key"), hex(portcullis::crypto::TokenHash::of(value).as_bytes())));
        }
        forms.sort_by(|a, b| a.1.cmp(&b.1));
        forms.dedup_by(|a, b| a.1 == b.1);
        forms
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A browser whose cookies the test can read.
struct Visitor {
    browser: Browser,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Visitor {
    fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { browser: Browser { http, base: base.to_owned() }, jar }
    }

    /// Adds the session cookie's current value and the CSRF token of `page`.
    fn collect(&self, secrets: &mut Secrets, page: &Answer) {
        let url = self.browser.base.parse().unwrap();
        if let Some(cookies) = self.jar.cookies(&url) {
            for cookie in cookies.to_str().unwrap().split("; ") {
                if let Some(value) = cookie.strip_prefix("portcullis_session=") {
                    secrets.add("session cookie", value);
                }
                if let Some(value) = cookie.strip_prefix("portcullis_csrf=") {
                    secrets.add("CSRF cookie", value);
                }
            }
        }
        if let Some(token) = hidden_field(&page.text, "csrf_token") {
            secrets.add("CSRF token", &token);
        }
    }

    /// Logs in through the form; the second value is `false` when the password was
    /// refused.
    async fn login(&self, secrets: &mut Secrets, username: &str, password: &str) -> bool {
        let page = self.browser.get("/accounts/login/").await;
        self.collect(secrets, &page);
        let form = [("username", username), ("password", password), ("csrf_token", &csrf_token(&page.text))];
        let answer = self.browser.post("/accounts/login/", &form).await;
        let after = self.browser.get("/o/applications/").await;
        self.collect(secrets, &after);
        answer.status == StatusCode::SEE_OTHER
    }
}

/// Runs a `portcullis` command at trace level; returns its stdout (where it prints
/// secrets on purpose, once) and its stderr (its log, which must have none).
async fn command(url: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (String, String) {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(binary());
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "trace")
        .env_remove("PORTCULLIS_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "portcullis {args:?}: {stderr}");
    (stdout, stderr)
}

/// POSTs a form, with HTTP Basic for `client` when it has a secret.
async fn post(http: &reqwest::Client, url: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
    let mut request = http.post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    read(request.send().await.unwrap()).await
}

#[track_caller]
fn token_answer(answer: &Answer) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

/// Shows the consent page for `url` and presses Authorize; returns where it sends
/// the browser.
async fn consent(visitor: &Visitor, secrets: &mut Secrets, url: &str) -> String {
    let page = visitor.browser.get(url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    visitor.collect(secrets, &page);
    let mut fields: Vec<(String, String)> = Vec::new();
    for name in [
        "client_id",
        "response_type",
        "scope",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    ] {
        if let Some(value) = hidden_field(&page.text, name) {
            fields.push((name.to_owned(), value));
        }
    }
    fields.push(("csrf_token".into(), csrf_token(&page.text)));
    fields.push(("allow".into(), "Authorize".into()));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    visitor.browser.post("/o/authorize/", &form).await.location()
}

fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", client_id);
    for (k, v) in extra {
        query.append_pair(k, v);
    }
    format!("/o/authorize/?{}", query.finish())
}

async fn every_flow_at_trace_level_logs_no_secret(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let mut secrets = Secrets::default();
    let mut cli_log = String::new();

    // --- The command line: users and applications ---
    let (_, err) = command(
        &url,
        &["createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"],
        &format!("{ROOT_PASSWORD}\n"),
        &[],
    )
    .await;
    cli_log += &err;
    secrets.add("root's password", ROOT_PASSWORD);
    let (_, err) = command(
        &url,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--no-input"],
        "",
        &[("PORTCULLIS_USER_PASSWORD", ALICE_PASSWORD)],
    )
    .await;
    cli_log += &err;
    secrets.add("alice's password", ALICE_PASSWORD);
    let app_create = |name: &'static str, extra: &'static [&'static str]| {
        let url = url.clone();
        async move {
            let mut args = vec!["app", "create", "--name", name, "--json"];
            args.extend_from_slice(extra);
            command(&url, &args, "", &[]).await
        }
    };
    let (out, err) = app_create(
        "Web",
        &[
            "--client-type",
            "confidential",
            "--grant-type",
            "authorization-code",
            "--grant-type",
            "implicit",
            "--grant-type",
            "password",
            "--grant-type",
            "client-credentials",
            "--redirect-uri",
            REDIRECT,
            "--post-logout-redirect-uri",
            AFTER_LOGOUT,
        ],
    )
    .await;
    cli_log += &err;
    let web: Value = serde_json::from_str(&out).unwrap();
    let web_id = web["client_id"].as_str().unwrap().to_owned();
    let web_secret = web["client_secret"].as_str().unwrap().to_owned();
    secrets.add("Web's client secret", &web_secret);
    let (out, err) = app_create("TV", &["--client-type", "public", "--grant-type", "device-code"]).await;
    cli_log += &err;
    let tv_id = serde_json::from_str::<Value>(&out).unwrap()["client_id"].as_str().unwrap().to_owned();
    let (out, err) = app_create(
        "Reports",
        &["--client-type", "confidential", "--grant-type", "client-credentials", "--access-token-format", "jwt"],
    )
    .await;
    cli_log += &err;
    let reports: Value = serde_json::from_str(&out).unwrap();
    let reports_id = reports["client_id"].as_str().unwrap().to_owned();
    let reports_secret = reports["client_secret"].as_str().unwrap().to_owned();
    secrets.add("Reports' client secret", &reports_secret);
    let web_basic = Some((web_id.as_str(), web_secret.as_str()));
    secrets.add(
        "Web's Basic credentials",
        &base64::engine::general_purpose::STANDARD.encode(format!("{web_id}:{web_secret}")),
    );

    // --- The server, at its most verbose ---
    let server =
        Instance::start_capturing(&url, &[("RUST_LOG", "trace"), ("PORTCULLIS_DEVICE_FLOW_INTERVAL", "1")]).await;
    let at = |path: &str| server.url(path);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Login, wrong then right.
    let alice = Visitor::new(&server.base);
    secrets.add("a wrong password", "not alice's password");
    assert!(!alice.login(&mut secrets, "alice", "not alice's password").await);
    assert!(alice.login(&mut secrets, "alice", ALICE_PASSWORD).await);

    // Consent, then the authorization code with PKCE and OpenID Connect.
    let p = pkce();
    secrets.add("PKCE verifier", &p.verifier);
    let code_url = authorize_url(
        &web_id,
        &[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile read"),
            ("state", "state-1"),
            ("nonce", "nonce-1"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = consent(&alice, &mut secrets, &code_url).await;
    let code = param(&query_of(&location), "code").unwrap();
    secrets.add("authorization code", &code);
    let code_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    let tokens = token_answer(&post(&http, &at("/o/token/"), web_basic, &code_form).await);
    secrets.add_json("code grant", &tokens, &["access_token", "refresh_token", "id_token"]);
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let code_access = tokens["access_token"].as_str().unwrap().to_owned();
    // UserInfo, while the token is alive.
    for request in [http.get(at("/o/userinfo/")), http.post(at("/o/userinfo/"))] {
        let answer = read(request.bearer_auth(&code_access).send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // The replay, which revokes what the code bought.
    let replay = post(&http, &at("/o/token/"), web_basic, &code_form).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);

    // The implicit grant: a scope not consented to yet, so the page asks.
    let implicit_url = authorize_url(&web_id, &[("response_type", "token"), ("scope", "write"), ("state", "s2")]);
    let location = consent(&alice, &mut secrets, &implicit_url).await;
    let (_, fragment) = location.split_once('#').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    secrets.add("implicit access token", &param(&pairs, "access_token").unwrap());

    // The password grant, right and wrong, with Basic and with the secret in the body.
    let form = [("grant_type", "password"), ("username", "alice"), ("password", ALICE_PASSWORD), ("scope", "read")];
    let password_tokens = token_answer(&post(&http, &at("/o/token/"), web_basic, &form).await);
    secrets.add_json("password grant", &password_tokens, &["access_token", "refresh_token"]);
    secrets.add("a wrong password in the password grant", "guessing alice's password");
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "guessing alice's password"),
        ("client_id", web_id.as_str()),
        ("client_secret", web_secret.as_str()),
    ];
    assert_eq!(post(&http, &at("/o/token/"), None, &form).await.status, StatusCode::BAD_REQUEST);

    // Client credentials, opaque and JWT.
    let own = token_answer(&post(&http, &at("/o/token/"), web_basic, &[("grant_type", "client_credentials")]).await);
    secrets.add_json("client credentials", &own, &["access_token"]);
    let reports_basic = Some((reports_id.as_str(), reports_secret.as_str()));
    let jwt =
        token_answer(&post(&http, &at("/o/token/"), reports_basic, &[("grant_type", "client_credentials")]).await);
    secrets.add_json("JWT client credentials", &jwt, &["access_token"]);

    // Refresh with rotation, then the rotated-out token again (reuse detection).
    let old_refresh = password_tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", old_refresh)];
    let rotated = token_answer(&post(&http, &at("/o/token/"), web_basic, &form).await);
    secrets.add_json("refresh", &rotated, &["access_token", "refresh_token"]);
    assert_eq!(post(&http, &at("/o/token/"), web_basic, &form).await.status, StatusCode::BAD_REQUEST);

    // The device flow: request, approve in the page, poll.
    let start = post(&http, &at("/o/device-authorization/"), None, &[("client_id", &tv_id), ("scope", "read")]).await;
    let codes = token_answer(&start);
    secrets.add_json("device authorization", &codes, &["device_code", "user_code"]);
    let user_code = codes["user_code"].as_str().unwrap();
    secrets.add("user code, as typed", &user_code.replace('-', ""));
    let device_code = codes["device_code"].as_str().unwrap();
    let poll = [("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", tv_id.as_str())];
    assert_eq!(post(&http, &at("/o/token/"), None, &poll).await.status, StatusCode::BAD_REQUEST, "pending");
    let page = alice.browser.get(&format!("/o/device/?user_code={user_code}")).await;
    alice.collect(&mut secrets, &page);
    let question =
        alice.browser.post("/o/device/", &[("user_code", user_code), ("csrf_token", &csrf_token(&page.text))]).await;
    let shown = hidden_field(&question.text, "user_code").unwrap();
    let answer = alice
        .browser
        .post(
            "/o/device/",
            &[("user_code", &shown), ("csrf_token", &csrf_token(&question.text)), ("allow", "Authorize")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let device_tokens = token_answer(&post(&http, &at("/o/token/"), None, &poll).await);
    secrets.add_json("device grant", &device_tokens, &["access_token", "refresh_token"]);

    // Introspection (POST, and GET with the token in the query), the API.
    // (Reuse detection revoked the rotated pair: the device's token is alive.)
    let access = device_tokens["access_token"].as_str().unwrap();
    let active = post(&http, &at("/o/introspect/"), web_basic, &[("token", access)]).await;
    assert_eq!(active.json()["active"], true, "{}", active.text);
    let by_get = http
        .get(at(&format!("/o/introspect/?token={access}")))
        .basic_auth(&web_id, Some(&web_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(read(by_get).await.json()["active"], true);
    let me = read(http.get(at("/api/me/")).bearer_auth(access).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    let bad = read(http.get(at("/api/me/")).bearer_auth("not-a-real-token-at-all").send().await.unwrap()).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    secrets.add("a made-up bearer token", "not-a-real-token-at-all");

    // Revocation (RFC 7009) of an access token and of a refresh token.
    let own_access = own["access_token"].as_str().unwrap();
    assert_eq!(post(&http, &at("/o/revoke_token/"), web_basic, &[("token", own_access)]).await.status, StatusCode::OK);
    let device_refresh = device_tokens["refresh_token"].as_str().unwrap();
    let form = [("token", device_refresh), ("token_type_hint", "refresh_token"), ("client_id", tv_id.as_str())];
    assert_eq!(post(&http, &at("/o/revoke_token/"), None, &form).await.status, StatusCode::OK);

    // OpenID Connect logout, with the ID token as the hint; then the logout button.
    let logout = format!(
        "/o/logout/?id_token_hint={id_token}&client_id={web_id}&post_logout_redirect_uri={}&state=bye",
        form_urlencoded::byte_serialize(AFTER_LOGOUT.as_bytes()).collect::<String>()
    );
    let answer = alice.browser.get(&logout).await;
    assert!(answer.location().starts_with(AFTER_LOGOUT), "{}", answer.text);
    assert!(alice.login(&mut secrets, "alice", ALICE_PASSWORD).await);
    let page = alice.browser.get("/o/applications/").await;
    let answer = alice.browser.post("/accounts/logout/", &[("csrf_token", &csrf_token(&page.text))]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);

    // Pages: registering an application shows its secret once; a new secret; staff
    // set a password and create a user.
    let root = Visitor::new(&server.base);
    assert!(root.login(&mut secrets, "root", ROOT_PASSWORD).await);
    let register = "/o/applications/register/";
    let page = root.browser.get(register).await;
    root.collect(&mut secrets, &page);
    let fields = [
        ("name", "Billing"),
        ("client_type", "confidential"),
        ("grant_type", "client-credentials"),
        ("algorithm", "RS256"),
        ("csrf_token", &csrf_token(&page.text)),
    ];
    let shown = root.browser.post(register, &fields).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    secrets.add("a registered application's secret", &code_text(&shown.text, "client-secret").unwrap());
    let billing_id = code_text(&shown.text, "client-id").unwrap();
    let detail = root.browser.get("/o/applications/").await;
    let id = crate::applications::unescape(&detail.text)
        .split("/o/applications/")
        .filter_map(|rest| rest.split('/').next()?.parse::<i64>().ok())
        .next()
        .unwrap();
    let renewed =
        root.browser.submit(&format!("/o/applications/{id}/"), &format!("/o/applications/{id}/secret/"), &[]).await;
    assert_eq!(renewed.status, StatusCode::OK);
    secrets.add("a regenerated secret", &code_text(&renewed.text, "client-secret").unwrap());
    let new_password = "alice's new long password";
    secrets.add("a password staff set", new_password);
    let alice_row = portcullis::store::connect(&url).await.unwrap();
    let alice_id = alice_row.user_by_username("alice").await.unwrap().unwrap().id;
    let user_page = format!("/admin/users/{alice_id}/");
    let answer = root
        .browser
        .submit(
            &user_page,
            &format!("{user_page}password/"),
            &[("password1", new_password), ("password2", new_password)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let created_password = "dave's long password";
    secrets.add("a new user's password", created_password);
    let fields = [
        ("username", "dave"),
        ("email", "dave@example.com"),
        ("password1", created_password),
        ("password2", created_password),
    ];
    assert_eq!(
        root.browser.submit("/admin/users/new/", "/admin/users/new/", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    let audit_page = root.browser.get("/admin/audit/").await;
    assert_eq!(audit_page.status, StatusCode::OK);

    // Stop the server gracefully, so that everything it had to say is said.
    let pid = server.child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    let mut server = server;
    tokio::time::timeout(Duration::from_secs(40), server.child.wait()).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server_log = server.log.lock().unwrap().clone();

    // The log is what was asked for: the libraries' debug output as well as ours,
    // with the audit events. (Nothing these flows run logs at TRACE itself; the filter
    // lets it through all the same.)
    for expected in [" DEBUG ", "portcullis::audit", "sqlx::query", "stopped"] {
        assert!(server_log.contains(expected), "the server's log has no {expected:?}");
    }
    assert!(cli_log.contains(" DEBUG sqlx::query") && cli_log.contains("portcullis::audit"), "{cli_log}");
    assert!(server_log.contains(&web_id) && server_log.contains(&billing_id), "client ids are logged, not secret");

    // The audit table has the events of these flows, and no secret either.
    let store = alice_row;
    let events = store.list_audit_events(&AuditFilter::default(), 10_000).await.unwrap();
    let kinds: std::collections::HashSet<AuditKind> = events.iter().map(|e| e.event.kind).collect();
    for kind in [
        AuditKind::LoginFailed,
        AuditKind::LoginSucceeded,
        AuditKind::Logout,
        AuditKind::ConsentGranted,
        AuditKind::TokenIssued,
        AuditKind::TokenRevoked,
        AuditKind::RefreshReuseDetected,
        AuditKind::CodeReplayed,
        AuditKind::UserCreated,
        AuditKind::UserChanged,
        AuditKind::ApplicationCreated,
        AuditKind::ApplicationSecretReset,
    ] {
        assert!(kinds.contains(&kind), "no {kind} event: {events:?}");
    }
    let table = format!("{events:?}");
    store.close().await;

    let mut leaks = Vec::new();
    for (what, form) in secrets.forms() {
        for (place, text) in
            [("the server's log", &server_log), ("a command's log", &cli_log), ("audit_events", &table)]
        {
            if let Some(at) = text.find(&form) {
                let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |n| at + n);
                leaks.push(format!("{what} in {place}: {}", &text[line_start..line_end]));
            }
        }
    }
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    assert!(secrets.0.len() >= 40, "only {} secrets collected", secrets.0.len());
}
