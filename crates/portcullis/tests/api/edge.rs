//! The server's edge: security headers on every answer, trusted proxies, TLS served by
//! `portcullis serve` itself, and the limits on request headers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis::config::Config;
use portcullis::http::edge::{TrustedProxies, CONTENT_SECURITY_POLICY_VALUE, STRICT_TRANSPORT_SECURITY_VALUE};
use portcullis::http::server::serve;
use portcullis::provider::Provider;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::run;
use crate::helpers::{csrf_token, fresh_database, fresh_store, read, Answer, Backend, Browser, Instance, TestApp};

/// Cases on an in-process server, for each database.
pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        every_answer_carries_the_security_headers,
        a_mounted_provider_adds_the_headers_to_its_own_routes_only,
        forwarded_headers_count_only_from_trusted_proxies,
        oversized_headers_are_refused_by_default,
    ]
}

/// Cases on the `portcullis` binary; the database does not matter to them.
pub fn binary_cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        serve_tls_with_a_self_signed_certificate,
        bad_tls_settings_are_one_sentence_and_a_failure,
        header_limits_come_from_the_settings,
        a_client_sending_headers_slowly_is_cut_off,
    ]
}

/// Asserts the headers every answer of the provider carries, and whether
/// `Strict-Transport-Security` is there.
#[track_caller]
fn assert_security_headers(answer: &Answer, what: &str, https: bool) {
    // RFC 6749 §10.13: "The authorization server MUST ... prevent clickjacking attacks";
    // `frame-ancestors` for today's browsers and X-Frame-Options for older ones.
    assert_eq!(answer.header("content-security-policy"), Some(CONTENT_SECURITY_POLICY_VALUE), "{what}");
    assert!(CONTENT_SECURITY_POLICY_VALUE.contains("frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("unsafe-inline"));
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    // Codes and tokens ride in URLs (RFC 6749 §4.1.2, §4.2.2): no Referer leaks them.
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
    // RFC 6797 §7.2: "An HSTS Host MUST NOT include the STS header field in HTTP
    // responses conveyed over non-secure transport."
    let hsts = answer.header("strict-transport-security");
    if https {
        assert_eq!(hsts, Some(STRICT_TRANSPORT_SECURITY_VALUE), "{what}");
    } else {
        assert_eq!(hsts, None, "{what}: HSTS over plain http");
    }
}

/// Every path of `portcullis::paths`, read from its source so that a route added later is
/// checked without anyone remembering to list it here.
fn every_route_path() -> Vec<String> {
    let module = include_str!("../../src/paths.rs");
    let paths: Vec<String> = module
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split('"').nth(1))
        .map(|path| path.replace("{id}", "1"))
        .collect();
    assert!(paths.len() > 40, "the paths module was not read: {paths:?}");
    paths
}

async fn every_answer_carries_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let mut targets = every_route_path();
    targets.extend(
        ["/static/portcullis.css", "/static/copy.js", "/static/playground.js", "/no/such/page", "/o/authorize/?x=1"]
            .map(String::from),
    );
    let bare: Vec<String> =
        targets.iter().filter_map(|p| p.strip_suffix('/').filter(|b| !b.is_empty()).map(String::from)).collect();
    targets.extend(bare);
    let mut seen = std::collections::BTreeSet::new();
    // Anonymous, then logged in (pages answer differently), each path with the methods
    // that reach handlers, redirects, method errors and the fallback.
    for round in ["anonymous", "logged in"] {
        if round == "logged in" {
            browser.login("alice", crate::helpers::PASSWORD).await;
        }
        for path in &targets {
            for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::DELETE] {
                let answer = read(browser.http.request(method.clone(), app.url(path)).send().await.unwrap()).await;
                assert_security_headers(&answer, &format!("{round}: {method} {path}: {}", answer.status), false);
                seen.insert(answer.status.as_u16());
            }
        }
    }
    // The walk met answers of every kind: pages, redirects, client errors, a 404, a 405.
    for status in [200, 302, 400, 401, 403, 404, 405] {
        assert!(seen.contains(&status), "no {status} among {seen:?}");
    }
}

async fn a_mounted_provider_adds_the_headers_to_its_own_routes_only(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let mut config = Config::defaults();
    config.oidc.issuer = "http://shop.example/auth/o".into();
    let provider = Provider::builder(config, store).prefix("/auth").build().await.unwrap();
    let router: axum::Router =
        axum::Router::new().route("/shop", axum::routing::get(|| async { "the shop" })).merge(provider.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve(listener, router, std::future::pending()));
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{base}{path}"));
        async move { read(request.send().await.unwrap()).await }
    };
    for path in ["/auth/healthz", "/auth/accounts/login/", "/auth/o/.well-known/jwks.json"] {
        let answer = get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_security_headers(&answer, path, false);
    }
    // The host's own route keeps the host's policy (here none), as do its 404s.
    for path in ["/shop", "/elsewhere"] {
        let answer = get(path).await;
        for header in ["content-security-policy", "x-frame-options", "referrer-policy", "x-content-type-options"] {
            assert_eq!(answer.header(header), None, "{path}: {header}");
        }
    }
    server.abort();
}

/// Logs in as someone unknown with `headers`, returning the status: `200` with the
/// form again while the address is allowed, `429` once it has failed too often.
async fn failed_login(app: &TestApp, username: &str, headers: &[(&str, &str)]) -> StatusCode {
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let page = read(http.get(app.url("/accounts/login/")).send().await.unwrap()).await;
    let token = csrf_token(&page.text);
    let mut request = http.post(app.url("/accounts/login/")).form(&[
        ("username", username),
        ("password", "wrong"),
        ("csrf_token", token.as_str()),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

/// The login page throttles failed logins per client address (20 in 15 minutes): the
/// address a trusted proxy reports counts, an untrusted client's claims do not.
async fn forwarded_headers_count_only_from_trusted_proxies(backend: Backend) {
    // The test talks to the server from loopback: as a trusted proxy here.
    let behind = TestApp::spawn_with(backend, |c| {
        c.server.trusted_proxies = TrustedProxies::parse(["127.0.0.1", "::1"]).unwrap()
    })
    .await;
    for n in 0..20 {
        let status = failed_login(&behind, &format!("nobody{n}"), &[("x-forwarded-for", "203.0.113.9")]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let attacker = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(failed_login(&behind, "nobody-else", &attacker).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not held back by the first one.
    let other = [("x-forwarded-for", "198.51.100.20, 203.0.113.10")];
    assert_eq!(failed_login(&behind, "nobody-else", &other).await, StatusCode::OK);
    // HSTS when the proxy says the client came over https, not otherwise.
    let over = |proto: &'static str| {
        let request = behind.http.get(behind.url("/healthz")).header("x-forwarded-proto", proto);
        async move { read(request.send().await.unwrap()).await }
    };
    assert_security_headers(&over("https").await, "behind a proxy, https", true);
    assert_security_headers(&over("http").await, "behind a proxy, http", false);

    // No proxy trusted: a client cannot pass for another by writing the headers itself.
    let direct = TestApp::spawn(backend).await;
    for n in 0..20 {
        let spoofed = format!("203.0.113.{n}");
        let status = failed_login(&direct, &format!("nobody{n}"), &[("x-forwarded-for", &spoofed)]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let spoofed = [("x-forwarded-for", "198.51.100.99")];
    assert_eq!(failed_login(&direct, "nobody-else", &spoofed).await, StatusCode::TOO_MANY_REQUESTS);
    let answer =
        read(direct.http.get(direct.url("/healthz")).header("x-forwarded-proto", "https").send().await.unwrap()).await;
    assert_security_headers(&answer, "spoofed X-Forwarded-Proto", false);
}

/// Sends `request` on a new connection and returns what comes back until the server
/// closes it (or 10 s pass).
async fn raw(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    // A reset after the answer (the server closes with bytes unread) ends it too.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn request_with_header_of(bytes: usize) -> Vec<u8> {
    format!("GET /healthz HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-padding: {}\r\n\r\n", "a".repeat(bytes))
        .into_bytes()
}

/// RFC 6585 §5: "431 ... the server is unwilling to process the request because its
/// header fields are too large."
async fn oversized_headers_are_refused_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let fits = raw(&address, &request_with_header_of(12 * 1024)).await;
    assert!(fits.starts_with("HTTP/1.1 200"), "{}", &fits[..fits.len().min(200)]);
    let too_big = raw(&address, &request_with_header_of(20 * 1024)).await;
    assert!(too_big.starts_with("HTTP/1.1 431"), "{}", &too_big[..too_big.len().min(200)]);
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files.
struct Certificate {
    pem: String,
    certificate: PathBuf,
    key: PathBuf,
    _dir: tempfile::TempDir,
}

fn self_signed() -> Certificate {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let pem = made.cert.pem();
    std::fs::write(&certificate, &pem).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Certificate { pem, certificate, key, _dir: dir }
}

async fn create_client(db: &crate::helpers::DbGuard) -> (String, String) {
    let created = run(
        db,
        &[
            "app",
            "create",
            "--name",
            "Job",
            "--client-type",
            "confidential",
            "--grant-type",
            "client-credentials",
            "--json",
        ],
        None,
        &[],
    )
    .await;
    let app: Value = serde_json::from_str(&created.assert_ok().stdout).unwrap();
    (app["client_id"].as_str().unwrap().to_owned(), app["client_secret"].as_str().unwrap().to_owned())
}

async fn serve_tls_with_a_self_signed_certificate(_: Backend) {
    let (_, db) = fresh_database(Backend::Sqlite).await;
    let (client_id, secret) = create_client(&db).await;
    let certificate = self_signed();
    let env = [("PORTCULLIS_SERVER_HEADER_READ_TIMEOUT_SECONDS", "2")];
    let server = Instance::start_tls(&db.url, &env, &certificate.certificate, &certificate.key).await;
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);

    // A client that trusts this certificate, and only it.
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let token = read(
        http.post(server.url("/o/token/"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_security_headers(&token, "token endpoint over TLS", true);
    let access = token.assert_token()["access_token"].as_str().unwrap().to_owned();
    let hello = read(http.get(server.url("/api/hello/")).bearer_auth(&access).send().await.unwrap()).await;
    assert_eq!((hello.status, hello.text.as_str()), (StatusCode::OK, "Hello, there!!"));
    assert_security_headers(&hello, "API over TLS", true);
    // Discovery names the https endpoints of the issuer it was given.
    let discovery = read(http.get(server.url("/o/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(discovery.json()["token_endpoint"], server.url("/o/token/"));

    // A client that does not trust the certificate is refused by its own TLS stack.
    assert!(reqwest::Client::new().get(server.url("/healthz")).send().await.is_err());
    // Plain http on the https port gets nothing.
    let plain = server.base.replace("https://", "http://");
    assert!(reqwest::Client::new().get(format!("{plain}/healthz")).send().await.is_err());
    // A connection that never starts its handshake is closed after the header timeout.
    let started = Instant::now();
    let silent = raw(server.base.trim_start_matches("https://"), b"").await;
    assert!(silent.is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6), "{waited:?}");

    // And over plain http, no HSTS.
    let (_, plain_db) = fresh_database(Backend::Sqlite).await;
    let plain = Instance::start(&plain_db.url, &[]).await;
    let answer = read(reqwest::get(plain.url("/healthz")).await.unwrap()).await;
    assert_security_headers(&answer, "plain http", false);
}

/// Runs `portcullis serve` with `args`, expecting it to fail before it listens.
async fn serve_fails(db: &crate::helpers::DbGuard, args: &[&str], env: &[(&str, &str)], needle: &str) {
    let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let result = run(db, &all, None, env).await;
    result.assert_fails_with(needle);
    assert!(!result.stderr.contains("listening"), "{}", result.stderr);
    assert!(!result.stderr.contains("PRIVATE KEY"), "key material in the error: {}", result.stderr);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn bad_tls_settings_are_one_sentence_and_a_failure(_: Backend) {
    let (_, db) = fresh_database(Backend::Sqlite).await;
    let good = self_signed();
    let other = self_signed();
    let (cert, key) = (path(&good.certificate), path(&good.key));
    let missing = good.certificate.with_file_name("missing.pem");
    let missing = path(&missing);

    // A certificate without its key, from the command line or the settings.
    serve_fails(&db, &["--tls-certificate", cert], &[], "server.tls_private_key").await;
    serve_fails(&db, &[], &[("PORTCULLIS_SERVER_TLS_PRIVATE_KEY", key)], "server.tls_certificate").await;
    // Files that are missing, or hold something else.
    serve_fails(&db, &["--tls-certificate", missing, "--tls-private-key", key], &[], missing).await;
    serve_fails(&db, &["--tls-certificate", key, "--tls-private-key", key], &[], "holds no PEM certificate").await;
    serve_fails(&db, &["--tls-certificate", cert, "--tls-private-key", cert], &[], "holds no PEM private key").await;
    // A key that is not the certificate's.
    serve_fails(
        &db,
        &["--tls-certificate", cert, "--tls-private-key", path(&other.key)],
        &[],
        "cannot be used together: the private key is not the certificate's",
    )
    .await;
    // The settings' pair, through the environment, works as the flags do.
    let env = [("PORTCULLIS_SERVER_TLS_CERTIFICATE", cert), ("PORTCULLIS_SERVER_TLS_PRIVATE_KEY", missing)];
    serve_fails(&db, &[], &env, missing).await;
}

async fn header_limits_come_from_the_settings(_: Backend) {
    let (_, db) = fresh_database(Backend::Sqlite).await;
    let server = Instance::start(&db.url, &[("PORTCULLIS_SERVER_MAX_HEADER_BYTES", "4096")]).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let fits = raw(&address, &request_with_header_of(3000)).await;
    assert!(fits.starts_with("HTTP/1.1 200"), "{}", &fits[..fits.len().min(200)]);
    let too_big = raw(&address, &request_with_header_of(5000)).await;
    assert!(too_big.starts_with("HTTP/1.1 431"), "{}", &too_big[..too_big.len().min(200)]);
}

/// Slowloris: a client that sends a header line now and then, never finishing, holds
/// its connection only until the header-read timeout.
async fn a_client_sending_headers_slowly_is_cut_off(_: Backend) {
    let (_, db) = fresh_database(Backend::Sqlite).await;
    let server = Instance::start(&db.url, &[("PORTCULLIS_SERVER_HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // A header line every 200 ms, for up to 10 s, while the connection lasts.
    let trickle = tokio::spawn(async move {
        if writer.write_all(b"GET /healthz HTTP/1.1\r\nhost: a\r\n").await.is_err() {
            return;
        }
        for n in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(format!("x-slow-{n}: 1\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut answer)).await;
    let waited = started.elapsed();
    assert!(closed.is_ok(), "the connection was still open after 8 s");
    assert!(answer.is_empty(), "an answer to a request never finished: {}", String::from_utf8_lossy(&answer));
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(4), "closed after {waited:?}");
    trickle.abort();
    // A client that sends its request at once is served as before.
    let quick = raw(&address, b"GET /healthz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n").await;
    assert!(quick.starts_with("HTTP/1.1 200"), "{quick}");
}
