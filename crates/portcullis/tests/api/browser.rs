//! End-to-end in a real headless Chromium, driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`), against the `portcullis` binary: the release build when
//! `PORTCULLIS_BIN` names it (as CI does), the test build otherwise. Each page visited
//! is saved as a screenshot under `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fantoccini::{Client as WebDriver, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

use crate::helpers::{fresh_database, read, Answer, Backend, DbGuard, Instance};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether this machine has the browser; the tests are listed as ignored otherwise.
pub fn available() -> bool {
    std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()
}

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        authorization_code_flow_in_a_browser,
        playground_runs_the_flow_from_the_page,
        staff_admin_pages_and_a_phone_screen,
        openid_connect_relying_party,
        pages_keep_to_the_content_security_policy
    ]
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("screenshots")
}

/// A `portcullis` process on its own database and port; killed when dropped.
pub struct Server {
    pub base: String,
    _child: Child,
    pub db: DbGuard,
}

async fn portcullis(db: &DbGuard, args: &[&str], stdin: Option<&str>) -> String {
    crate::helpers::portcullis(&db.url, args, stdin).await
}

impl Server {
    pub async fn start() -> Self {
        let (_, db) = fresh_database(Backend::Sqlite).await;
        // Rotated keys sign a second after they are published, not a minute: the
        // relying-party test rotates and goes on at once.
        let instance = Instance::start(&db.url, &[("PORTCULLIS_OIDC_KEY_PUBLISH_AHEAD_SECONDS", "1")]).await;
        Self { base: instance.base, _child: instance.child, db }
    }
}

/// Chromium under chromedriver, with the flags this machine's closed network needs.
pub struct Browser {
    pub driver: WebDriver,
    _chromedriver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    count: std::sync::atomic::AtomicU32,
}

impl Browser {
    pub async fn start(name: &str) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1100,900", format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut attempt = 0;
        let driver = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(driver) => break driver,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start chromium through chromedriver: {e}"),
            }
        };
        let shots = screenshot_dir().join(name);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self { driver, _chromedriver: chromedriver, _profile: profile, shots, count: Default::default() }
    }

    pub async fn goto(&self, url: &str) {
        self.driver.goto(url).await.unwrap();
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.driver.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.driver.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// Ticks a checkbox or radio button unless it already is.
    pub async fn check(&self, css: &str) {
        let input = self.driver.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        if !input.is_selected().await.unwrap() {
            input.click().await.unwrap();
        }
    }

    pub async fn text(&self) -> String {
        self.driver.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    pub async fn url(&self) -> url::Url {
        self.driver.current_url().await.unwrap()
    }

    /// Saves the page as `NN-name.png`.
    pub async fn screenshot(&self, name: &str) {
        let n = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let png = self.driver.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{n:02}-{name}.png")), png).unwrap();
    }

    /// Waits (at most 10 s) until the element's text contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        for _ in 0..100 {
            if let Ok(element) = self.driver.find(Locator::Css(css)).await {
                let text = element.text().await.unwrap_or_default();
                if text.contains(needle) {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{needle:?} never appeared in {css}: {}", self.text().await);
    }

    /// Waits (at most 10 s) until the browser is at a path.
    pub async fn wait_for_path(&self, path: &str) {
        for _ in 0..100 {
            if self.url().await.path() == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {path}; at {}", self.url().await);
    }

    pub async fn close(self) {
        let _ = self.driver.close().await;
    }

    /// From now on, every page this tab loads records the Content Security Policy
    /// violations it meets (the `securitypolicyviolation` event), from before its own
    /// first script runs: the listener goes in through the DevTools protocol, which
    /// the page's CSP does not govern.
    pub async fn record_csp_violations(&self) {
        let listener = r#"
            window.__cspViolations = [];
            document.addEventListener("securitypolicyviolation", (e) => {
                window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`);
            });
        "#;
        self.driver
            .issue_cmd(Cdp { cmd: "Page.addScriptToEvaluateOnNewDocument", params: json!({ "source": listener }) })
            .await
            .unwrap();
    }

    /// The violations the current page has met, after giving queued reports a moment
    /// to arrive. Fails if the page was loaded without the listener.
    pub async fn csp_violations(&self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = self.driver.execute("return window.__cspViolations ?? null", vec![]).await.unwrap();
        let Some(seen) = seen.as_array() else { panic!("no CSP listener on {}", self.url().await) };
        seen.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Asserts that the current page met no CSP violation and that its stylesheet
    /// applies (a blocked one would report a violation too; this is a second look).
    pub async fn assert_keeps_to_the_csp(&self, what: &str) {
        let violations = self.csp_violations().await;
        assert!(violations.is_empty(), "{what}: {violations:#?}");
        let accent: Value = self
            .driver
            .execute("return getComputedStyle(document.documentElement).getPropertyValue('--accent')", vec![])
            .await
            .unwrap();
        assert_eq!(accent.as_str().map(str::trim), Some("#1f4fd1"), "{what}: the stylesheet did not apply");
    }
}

/// A Chrome DevTools protocol command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

/// A client application's redirection endpoint: a page that says it got an answer.
async fn callback_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/cb",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>Client</title><h1>Client got an answer</h1>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/cb")
}

/// The whole journey of a user: log in, authorize an application with PKCE by clicking
/// Authorize, the application gets tokens and calls the API; later the user sees the
/// application among the authorized ones and takes access back.
async fn authorization_code_flow_in_a_browser(_: Backend) {
    let server = Server::start().await;
    let callback = callback_server().await;
    portcullis(
        &server.db,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"],
        Some("alice-passphrase\n"),
    )
    .await;
    let browser = Browser::start("authorization-code").await;

    // Log in, and register the application through the pages.
    browser.goto(&format!("{}/o/applications/", server.base)).await;
    browser.wait_for_path("/accounts/login/").await;
    browser.screenshot("login").await;
    browser.fill("#username", "alice").await;
    browser.fill("#password", "alice-passphrase").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/o/applications/").await;
    browser.screenshot("applications-empty").await;
    browser.goto(&format!("{}/o/applications/register/", server.base)).await;
    browser.fill("#name", "Photo Printer").await;
    browser.check("input[name=client_type][value=confidential]").await;
    browser.check("input[name=grant_type][value=authorization-code]").await;
    browser.fill("#redirect_uris", &callback).await;
    browser.screenshot("register").await;
    browser.click("form button[type=submit].primary").await;
    let secret = browser.wait_for_text("#client-secret", "").await;
    let client_id = browser.wait_for_text("#client-id", "").await;
    assert!(secret.len() >= 43 && client_id.len() >= 20, "{secret:?} {client_id:?}");
    browser.screenshot("registered-secret-shown-once").await;
    browser.goto(&format!("{}/o/applications/", server.base)).await;
    assert!(browser.text().await.contains("Photo Printer"));
    browser.screenshot("applications").await;

    // The application sends the user to authorize it, with PKCE.
    let verifier = portcullis::crypto::random_string(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    // RFC 8707: it wants tokens for the example API, and for another service of its own.
    let api = format!("{}/api", server.base);
    let other = "https://photos.example/v1";
    let encode = |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let authorize = format!(
        "{}/o/authorize/?response_type=code&client_id={client_id}&redirect_uri={}&scope=read%20write&state=s-1&code_challenge={challenge}&code_challenge_method=S256&resource={}&resource={}",
        server.base,
        encode(&callback),
        encode(&api),
        encode(other),
    );
    browser.goto(&authorize).await;
    browser.wait_for_text("h1", "Authorize Photo Printer?").await;
    // The page lists the services the access will work at.
    let listed = browser.wait_for_text("ul.resources", "").await;
    assert!(listed.contains(&api) && listed.contains(other), "{listed}");
    // The page names where the answer goes, and warns: the only redirect URI is on
    // loopback, where any program could listen.
    let consent = browser.text().await;
    assert!(consent.contains("you go back to 127.0.0.1"), "{consent}");
    browser.wait_for_text("#loopback-warning", "any program could be listening").await;
    browser.screenshot("consent").await;
    browser.click("button[name=allow]").await;

    for _ in 0..100 {
        if browser.url().await.as_str().starts_with(&callback) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let landed = browser.url().await;
    assert!(landed.as_str().starts_with(&callback), "{landed}");
    browser.screenshot("client-callback").await;
    let pairs: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("s-1"));
    // RFC 9207 §2: the answer names the issuer.
    assert_eq!(get("iss"), Some(format!("{}/o", server.base)));
    let code = get("code").unwrap();

    // The application exchanges the code and calls the API.
    let http = reqwest::Client::new();
    let tokens = token_request(
        &http,
        &server.base,
        (&client_id, &secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", api.as_str()),
        ],
    )
    .await
    .assert_token();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let me = read(http.get(format!("{}/api/me/", server.base)).bearer_auth(&access).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");
    // A refresh for the other service gets a token the example API refuses: it is
    // bound to where it was asked for.
    let elsewhere = token_request(
        &http,
        &server.base,
        (&client_id, &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("resource", other),
        ],
    )
    .await
    .assert_token();
    let there = elsewhere["access_token"].as_str().unwrap();
    let refused = read(http.get(format!("{}/api/me/", server.base)).bearer_auth(there).send().await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.header("www-authenticate").unwrap_or("").contains("invalid_token"));
    // Back to the API with the successor refresh token.
    let tokens = token_request(
        &http,
        &server.base,
        (&client_id, &secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", elsewhere["refresh_token"].as_str().unwrap()),
            ("resource", api.as_str()),
        ],
    )
    .await
    .assert_token();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let me = read(http.get(format!("{}/api/me/", server.base)).bearer_auth(&access).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);

    // The user sees the application among those they authorized, and takes access back.
    browser.goto(&format!("{}/o/authorized_tokens/", server.base)).await;
    assert!(browser.text().await.contains("Photo Printer"));
    browser.screenshot("authorized-tokens").await;
    browser.click("form[action$='/delete/'] button[type=submit]").await;
    browser.wait_for_path("/o/authorized_tokens/").await;
    browser.screenshot("authorized-tokens-after-revoke").await;
    let me = read(http.get(format!("{}/api/me/", server.base)).bearer_auth(&access).send().await.unwrap()).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "the token is refused once access is taken back");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refused = token_request(
        &http,
        &server.base,
        (&client_id, &secret),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    refused.assert_error(400, "invalid_grant");
    browser.close().await;
}

/// The playground: the user's own public application, the flow started from the page,
/// consent, the code exchanged and the API called by the page's script.
async fn playground_runs_the_flow_from_the_page(_: Backend) {
    let server = Server::start().await;
    portcullis(
        &server.db,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"],
        Some("alice-passphrase\n"),
    )
    .await;
    let callback = format!("{}/o/playground/callback/", server.base);
    portcullis(
        &server.db,
        &[
            "app",
            "create",
            "--name",
            "Playground app",
            "--client-type",
            "public",
            "--grant-type",
            "authorization-code",
            "--redirect-uri",
            &callback,
            "--owner",
            "alice",
        ],
        None,
    )
    .await;

    let browser = Browser::start("playground").await;
    browser.goto(&format!("{}/o/playground/", server.base)).await;
    browser.wait_for_path("/accounts/login/").await;
    browser.fill("#username", "alice").await;
    browser.fill("#password", "alice-passphrase").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/o/playground/").await;
    browser.wait_for_text("#callback", &callback).await;
    browser.screenshot("playground").await;
    browser.fill("#scope", "read write").await;
    browser.click("#start").await;

    browser.wait_for_path("/o/authorize/").await;
    browser.wait_for_text("h1", "Authorize Playground app?").await;
    browser.screenshot("playground-consent").await;
    browser.click("button[name=allow]").await;

    browser.wait_for_path("/o/playground/callback/").await;
    browser.wait_for_text("#code-response", "code = ").await;
    browser.click("#exchange").await;
    let answer = browser.wait_for_text("#token-response", "access_token").await;
    assert!(answer.starts_with("HTTP 200"), "{answer}");
    assert!(answer.contains("\"scope\":\"read write\""), "{answer}");
    let request = browser.wait_for_text("#token-request", "code_verifier=").await;
    assert!(!request.contains("client_secret"), "a public client sends no secret: {request}");
    browser.click("#call-api").await;
    let api = browser.wait_for_text("#api-response", "alice").await;
    assert!(api.starts_with("HTTP 200"), "{api}");
    browser.screenshot("playground-done").await;
    browser.close().await;
}

/// The staff pages, each saved as a screenshot, and the login and consent pages on a
/// phone-sized screen.
async fn staff_admin_pages_and_a_phone_screen(_: Backend) {
    let server = Server::start().await;
    portcullis(
        &server.db,
        &["createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"],
        Some("root-passphrase\n"),
    )
    .await;
    portcullis(
        &server.db,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"],
        Some("alice-passphrase\n"),
    )
    .await;
    portcullis(
        &server.db,
        &[
            "app",
            "create",
            "--name",
            "Reporting job",
            "--client-type",
            "confidential",
            "--grant-type",
            "client-credentials",
        ],
        None,
    )
    .await;

    let browser = Browser::start("admin").await;
    browser.goto(&format!("{}/admin/", server.base)).await;
    browser.wait_for_path("/accounts/login/").await;
    browser.fill("#username", "root").await;
    browser.fill("#password", "root-passphrase").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/admin/").await;
    browser.wait_for_text("h1", "Administration").await;
    browser.screenshot("admin-index").await;
    for (path, heading, name) in [
        ("/admin/users/", "Users", "admin-users"),
        ("/admin/users/new/", "", "admin-user-new"),
        ("/admin/applications/", "", "admin-applications"),
        ("/admin/tokens/", "", "admin-tokens"),
    ] {
        browser.goto(&format!("{}{path}", server.base)).await;
        browser.wait_for_text("h1", heading).await;
        browser.screenshot(name).await;
    }
    browser.goto(&format!("{}/admin/users/?q=alice", server.base)).await;
    assert!(browser.text().await.contains("alice@example.com"));
    browser.click("table a[href^='/admin/users/']").await;
    browser.wait_for_text("h1", "alice").await;
    browser.screenshot("admin-user").await;

    // A phone: the same pages must stay readable at 390 pixels wide.
    browser.driver.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{}/o/applications/", server.base)).await;
    browser.screenshot("phone-applications").await;
    let form = browser.driver.find(Locator::Css("form.logout button")).await.unwrap();
    form.click().await.unwrap();
    browser.wait_for_path("/accounts/login/").await;
    browser.screenshot("phone-login").await;
    let width: Value = browser.driver.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(width.as_u64().unwrap_or(9999) <= 390, "no sideways scrolling on a phone: {width}");
    browser.close().await;
}

/// POSTs `form` to the token endpoint of the server at `base`, as the client `(id, secret)`.
async fn token_request(
    http: &reqwest::Client,
    base: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> Answer {
    let request = http.post(format!("{base}/o/token/")).basic_auth(id, Some(secret)).form(form);
    read(request.send().await.unwrap()).await
}

/// A relying party built on the `openidconnect` crate, as applications use it: discovery,
/// the code flow with PKCE and a nonce through the browser, the ID token checked against
/// the JWKS (signature, issuer, audience, nonce, at_hash), UserInfo, and RP-initiated
/// logout; then again after `portcullis keys rotate`.
async fn openid_connect_relying_party(_: Backend) {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
        TokenResponse,
    };

    let server = Server::start().await;
    let callback = callback_server().await;
    let bye = callback.replace("/cb", "/bye");
    portcullis(
        &server.db,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"],
        Some("alice-passphrase\n"),
    )
    .await;
    let created = portcullis(
        &server.db,
        &[
            "app",
            "create",
            "--name",
            "Photo Printer",
            "--client-type",
            "confidential",
            "--grant-type",
            "authorization-code",
            "--redirect-uri",
            &callback,
            "--post-logout-redirect-uri",
            &bye,
            "--json",
        ],
        None,
    )
    .await;
    let created: Value = serde_json::from_str(&created).unwrap();
    let (client_id, secret) =
        (created["client_id"].as_str().unwrap().to_owned(), created["client_secret"].as_str().unwrap().to_owned());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let issuer = IssuerUrl::new(format!("{}/o", server.base)).unwrap();
    let browser = Browser::start("openid-connect").await;

    let mut kids = Vec::new();
    for round in ["first", "after-rotation"] {
        if round == "after-rotation" {
            portcullis(&server.db, &["keys", "rotate"], None).await;
            // A running server reads the keys again within a second, and (with the
            // server's key_publish_ahead_seconds of 1) signs with the new ones a
            // second after the rotation.
            tokio::time::sleep(Duration::from_millis(2200)).await;
        }
        // Discovery (and the JWKS it points to), afresh each round as a relying party
        // does when it meets an unknown key.
        let metadata = ProviderMetadataWithLogout::discover_async(issuer.clone(), &http).await.unwrap();
        let end_session = metadata.additional_metadata().end_session_endpoint.clone().expect("end_session_endpoint");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.clone()),
            Some(ClientSecret::new(secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();

        browser.goto(authorize.as_str()).await;
        if round == "first" {
            browser.wait_for_path("/accounts/login/").await;
            browser.fill("#username", "alice").await;
            browser.fill("#password", "alice-passphrase").await;
            browser.click("form button[type=submit]").await;
        }
        browser.wait_for_text("h1", "Authorize Photo Printer?").await;
        browser.screenshot(&format!("{round}-consent")).await;
        browser.click("button[name=allow]").await;
        browser.wait_for_path("/cb").await;
        let landed = browser.url().await;
        let pairs: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(get("state").as_deref(), Some(state.secret().as_str()));
        let code = get("code").unwrap();

        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{round}: code exchange: {e:?}"));
        let id_token = tokens.id_token().expect("an id_token");
        let id_verifier = client.id_token_verifier();
        let claims = id_token.claims(&id_verifier, &nonce).unwrap_or_else(|e| panic!("{round}: ID token: {e:?}"));
        let expected = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&id_verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
        assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("alice"));
        kids.push(id_token.signing_key(&id_verifier).map(|k| format!("{k:?}")).unwrap());

        let userinfo: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{round}: userinfo: {e:?}"));
        assert_eq!(userinfo.subject(), claims.subject());
        assert_eq!(userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));

        if round == "first" {
            // RP-initiated logout with the ID token as hint: straight back to the RP.
            let logout = LogoutRequest::from(end_session)
                .set_id_token_hint(id_token)
                .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(bye.clone()).unwrap())
                .set_state(CsrfToken::new("bye-state".into()))
                .http_get_url();
            browser.goto(logout.as_str()).await;
            browser.wait_for_path("/bye").await;
            assert_eq!(browser.url().await.query(), Some("state=bye-state"));
            // The session is over, and so is this client's access token.
            let status = http
                .get(format!("{}/o/userinfo/", server.base))
                .bearer_auth(tokens.access_token().secret())
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            browser.goto(&format!("{}/o/applications/", server.base)).await;
            browser.wait_for_path("/accounts/login/").await;
            browser.fill("#username", "alice").await;
            browser.fill("#password", "alice-passphrase").await;
            browser.click("form button[type=submit]").await;
            browser.wait_for_path("/o/applications/").await;
        }
    }
    assert_ne!(kids[0], kids[1], "signed with the new key after rotation");
    browser.close().await;
}

/// The pages under their Content Security Policy (`default-src 'none'`, scripts and
/// styles from this server only, no inline ones) in a real browser: login, consent,
/// the device pages, the playground with its script, an application's page with the
/// copy script, the admin pages and the error pages each load without a single
/// violation, with their stylesheet applied.
async fn pages_keep_to_the_content_security_policy(_: Backend) {
    let server = Server::start().await;
    let callback = callback_server().await;
    portcullis(
        &server.db,
        &["createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"],
        Some("root-passphrase\n"),
    )
    .await;
    let app = |name: &str, kind: &str, grant: &str| {
        let args: Vec<String> = [
            "app",
            "create",
            "--name",
            name,
            "--client-type",
            kind,
            "--grant-type",
            grant,
            "--redirect-uri",
            &callback,
            "--owner",
            "root",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        let db = &server.db;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let created: Value = serde_json::from_str(&portcullis(db, &args, None).await).unwrap();
            created["client_id"].as_str().unwrap().to_owned()
        }
    };
    let web = app("Photo Printer", "confidential", "authorization-code").await;
    let tv = app("Living-room TV", "public", "device-code").await;

    let browser = Browser::start("csp").await;
    browser.record_csp_violations().await;
    browser.goto(&format!("{}/o/applications/", server.base)).await;
    browser.wait_for_path("/accounts/login/").await;
    browser.assert_keeps_to_the_csp("login").await;
    // The listener sees what the policy blocks: an inline script is a violation.
    browser
        .driver
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s);",
            vec![],
        )
        .await
        .unwrap();
    let caught = browser.csp_violations().await;
    assert!(caught.iter().any(|v| v.starts_with("script-src")), "the inline script went unnoticed: {caught:?}");

    browser.fill("#username", "root").await;
    browser.fill("#password", "root-passphrase").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path("/o/applications/").await;
    browser.assert_keeps_to_the_csp("applications").await;

    // An application's page, with the copy buttons' script.
    browser.click("td.lead a").await;
    browser.wait_for_text("#client-id", &web).await;
    browser.assert_keeps_to_the_csp("application detail").await;

    // Consent (RFC 6749 §10.13: the page that must never be framed).
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(b"a-verifier-of-enough-length-for-rfc-7636-forty-three"));
    browser
        .goto(&format!(
            "{}/o/authorize/?response_type=code&client_id={web}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
            server.base,
            form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
        ))
        .await;
    browser.wait_for_text("h1", "Authorize Photo Printer?").await;
    browser.assert_keeps_to_the_csp("consent").await;

    // The device pages: entering the code, then the question.
    let http = reqwest::Client::new();
    let codes = read(
        http.post(format!("{}/o/device-authorization/", server.base))
            .form(&[("client_id", tv.as_str()), ("scope", "read")])
            .send()
            .await
            .unwrap(),
    )
    .await
    .json();
    browser.goto(&format!("{}/o/device/", server.base)).await;
    browser.wait_for_text("h1", "Connect a device").await;
    browser.assert_keeps_to_the_csp("device code entry").await;
    browser.fill("#user_code", codes["user_code"].as_str().unwrap()).await;
    browser.click("form button[type=submit].primary").await;
    browser.wait_for_text("h1", "Authorize Living-room TV?").await;
    browser.assert_keeps_to_the_csp("device consent").await;

    // The playground, whose script runs the flow.
    browser.goto(&format!("{}/o/playground/", server.base)).await;
    browser.wait_for_text("h1", "Playground").await;
    browser.assert_keeps_to_the_csp("playground").await;

    for (path, what) in [
        ("/admin/", "admin"),
        ("/admin/users/", "admin users"),
        ("/admin/users/new/", "admin new user"),
        ("/admin/applications/", "admin applications"),
        ("/admin/tokens/", "admin tokens"),
        ("/o/authorized_tokens/", "authorized tokens"),
        ("/o/authorize/?client_id=nobody", "the authorization endpoint's error page"),
        ("/admin/users/999999/", "a 404 page"),
    ] {
        browser.goto(&format!("{}{path}", server.base)).await;
        browser.wait_for_text("h1", "").await;
        browser.assert_keeps_to_the_csp(what).await;
    }
    browser.close().await;
}
