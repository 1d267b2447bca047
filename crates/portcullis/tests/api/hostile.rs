//! Hostile requests: a table of malformed and malicious requests (injection strings,
//! Unicode tricks in redirect URIs, repeated parameters, parameters in the wrong place,
//! oversized values, wrong methods and content types, broken headers), each sent as raw
//! bytes over TCP so that nothing between the table and the server tidies it up, each
//! answer checked against the RFC clause that decides it, and the whole database
//! compared before and after: none of these requests may change anything.
//!
//! The rows use the token, revocation, introspection, device, authorization, logout and
//! API endpoints. The login form is left out on purpose: a failed login is recorded for
//! throttling, a change the table would have to allow for.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::{AuditFilter, AuditKind};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{snapshot, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        hostile_requests_are_refused_and_change_nothing,
        a_nul_in_the_login_form_is_refused_not_a_500,
        a_flood_of_wrong_secrets_sent_as_bytes_locks_out_only_the_flooder,
        concurrent_password_guesses_sent_as_bytes_get_the_limit_and_no_more,
        an_ordinary_user_cannot_make_an_app_skip_consent_with_forged_bytes,
        an_anonymous_logout_link_sent_as_bytes_redirects_nowhere_unasked,
        anonymous_page_views_store_nothing,
    ]
}

/// The one redirection URI the clients registered.
const REGISTERED: &str = "https://client.example/cb";

/// What a row must get back.
#[derive(Debug, Clone)]
enum Expect {
    /// An OAuth error: status and `error` code in a JSON body that is not cached
    /// (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3, RFC 8628 §3.5).
    OAuth(u16, &'static str),
    /// A protected resource's refusal (RFC 6750 §3): status and the challenge's
    /// `error`, or none when the request carried no token.
    Bearer(u16, Option<&'static str>),
    /// An HTML error page with this status, and no redirect (RFC 6749 §4.1.2.1).
    Page(u16),
    /// This status, from the HTTP layer (405, 413, 404, a malformed request).
    Status(u16),
    /// A redirect to a URI that starts with this, carrying this `error` if any.
    Redirect(String, Option<&'static str>),
    /// `200`, with this in the body.
    Ok(&'static str),
}

/// One request of the table, written out as bytes.
#[derive(Debug, Clone)]
struct Row {
    what: String,
    method: &'static str,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    expect: Option<Expect>,
}

impl Row {
    fn new(what: impl Into<String>, method: &'static str, target: impl Into<String>) -> Self {
        Self { what: what.into(), method, target: target.into(), headers: vec![], body: vec![], expect: None }
    }

    fn get(what: impl Into<String>, target: impl Into<String>) -> Self {
        Self::new(what, "GET", target)
    }

    /// A POST of a form body, written exactly as given (already encoded).
    fn form(what: impl Into<String>, path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(what, "POST", path).body("application/x-www-form-urlencoded", body)
    }

    fn token(what: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::form(what, "/o/token/", body)
    }

    fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers.push(("Content-Type".into(), content_type.as_bytes().to_vec()));
        self.body = body.into();
        self
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// HTTP Basic with the id and secret form-encoded (RFC 6749 §2.3.1).
    fn basic(self, id: &str, secret: &str) -> Self {
        let plain = format!("{}:{}", enc(id), enc(secret));
        self.header("Authorization", format!("Basic {}", STANDARD.encode(plain)))
    }

    fn authenticated_as(self, client: &Client) -> Self {
        let (id, secret) = (client.client_id.clone(), client.secret.clone().unwrap_or_default());
        self.basic(&id, &secret)
    }

    fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    fn expect(mut self, expect: Expect) -> Self {
        self.expect = Some(expect);
        self
    }

    fn oauth(self, status: u16, code: &'static str) -> Self {
        self.expect(Expect::OAuth(status, code))
    }

    /// The bytes on the wire: the request line and headers as given, then the body with
    /// its length, and `Connection: close` so the answer ends with the connection.
    fn bytes(&self) -> Vec<u8> {
        let mut out =
            format!("{} {} HTTP/1.1\r\nHost: portcullis.test\r\nConnection: close\r\n", self.method, self.target)
                .into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        let explicit = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
        if !explicit && (!self.body.is_empty() || self.method == "POST") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Form-encodes a value (RFC 6749 Appendix B).
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A query string or form body from pairs, each encoded.
fn pairs(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(n, v)| format!("{}={}", enc(n), enc(v))).collect::<Vec<_>>().join("&")
}

/// An answer as read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as is and reads the answer to the end of the connection.
async fn send(addr: &str, request: &[u8]) -> Raw {
    send_from([127, 0, 0, 1], addr, request).await
}

/// [`send`] from the loopback address `local`, so the server sees another client.
async fn send_from(local: [u8; 4], addr: &str, request: &[u8]) -> Raw {
    let exchange = async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((local, 0))).unwrap();
        let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        // The server may answer (413, 400) and close before reading everything.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(20), exchange).await.expect("the server did not answer");
    parse(&answer)
}

fn parse(answer: &[u8]) -> Raw {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
        panic!("no complete answer: {:?}", String::from_utf8_lossy(answer));
    });
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{status_line}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = answer[end + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Raw { status, headers, body }
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(at) = chunked.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&chunked[..at]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.extend_from_slice(&chunked[at + 2..at + 2 + size]);
        chunked = &chunked[at + 2 + size + 2..];
    }
    body
}

/// Checks one answer; the message names the row.
fn check(row: &Row, raw: &Raw) {
    let what = &row.what;
    let expect = row.expect.clone().unwrap_or_else(|| panic!("{what}: the row expects nothing"));
    let text = raw.text();
    assert!(raw.status < 500, "{what}: {} {text}", raw.status);
    match expect {
        Expect::OAuth(status, code) => {
            assert_eq!(raw.status, status, "{what}: {text}");
            assert!(raw.header("content-type").unwrap_or_default().starts_with("application/json"), "{what}");
            let body: serde_json::Value =
                serde_json::from_slice(&raw.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
            assert_eq!(body["error"], code, "{what}: {text}");
            // RFC 6749 §5.1: "Cache-Control: no-store" on answers about credentials.
            assert_eq!(raw.header("cache-control"), Some("no-store"), "{what}");
            // RFC 6749 §5.2: after an Authorization header, invalid_client is 401 with a
            // challenge of the scheme the client used.
            let tried_header = row.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
            if code == "invalid_client" && tried_header {
                assert!(raw.header("www-authenticate").is_some(), "{what}: no challenge");
            }
            // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
            if let Some(description) = body["error_description"].as_str() {
                assert!(
                    description.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
                    "{what}: error_description {description:?}"
                );
            }
        }
        Expect::Bearer(status, error) => {
            assert_eq!(raw.status, status, "{what}: {text}");
            let challenge = raw.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no challenge"));
            // RFC 6750 §3: "Bearer" and a realm, then `error` only if a token was sent.
            assert!(challenge.starts_with("Bearer realm="), "{what}: {challenge}");
            match error {
                Some(code) => assert!(challenge.contains(&format!("error=\"{code}\"")), "{what}: {challenge}"),
                None => assert!(!challenge.contains("error="), "{what}: {challenge}"),
            }
        }
        Expect::Page(status) => {
            assert_eq!(raw.status, status, "{what}: {text}");
            assert!(raw.header("location").is_none(), "{what}: redirected to {:?}", raw.header("location"));
            assert!(raw.header("content-type").unwrap_or_default().starts_with("text/html"), "{what}");
        }
        Expect::Status(status) => assert_eq!(raw.status, status, "{what}: {text}"),
        Expect::Redirect(prefix, error) => {
            assert!(matches!(raw.status, 302 | 303), "{what}: {} {text}", raw.status);
            let location = raw.header("location").unwrap_or_else(|| panic!("{what}: no Location"));
            assert!(location.starts_with(&prefix), "{what}: went to {location}");
            if let Some(code) = error {
                assert!(location.contains(&format!("error={code}")), "{what}: {location}");
            }
        }
        Expect::Ok(needle) => {
            assert_eq!(raw.status, 200, "{what}: {text}");
            assert!(text.contains(needle), "{what}: {text}");
        }
    }
    // No request may add a header of its own making (CRLF injection).
    assert!(raw.header("x-injected").is_none(), "{what}: header injection");
}

/// The fixture the rows aim at: a user, a confidential client that skips consent and a
/// public one, both with one registered redirect URI, a token and an ID token, and an
/// authorization code waiting to be redeemed.
struct Fixture {
    confidential: Client,
    public: Client,
    token: String,
    id_token: String,
    code: String,
    verifier: String,
    challenge: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    app.user("alice").await;
    let grants =
        [GrantType::AuthorizationCode, GrantType::Password, GrantType::ClientCredentials, GrantType::DeviceCode];
    let confidential = app
        .client_with(ClientType::Confidential, &grants, None, |a| {
            a.settings.redirect_uris = vec![REGISTERED.into()];
            a.settings.skip_authorization = true;
        })
        .await;
    let public = app
        .client_with(ClientType::Public, &grants, None, |a| a.settings.redirect_uris = vec![REGISTERED.into()])
        .await;
    let token =
        app.password_token(&confidential, "alice", Some("read")).await["access_token"].as_str().unwrap().to_owned();

    let browser = Browser::new(app);
    browser.login("alice", PASSWORD).await;
    let code_for = |scope: &'static str, challenge: String| {
        let browser = &browser;
        let query = pairs(&[
            ("response_type", "code"),
            ("client_id", &confidential.client_id),
            ("redirect_uri", REGISTERED),
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st"),
        ]);
        async move {
            let location = browser.get(&format!("/o/authorize/?{query}")).await.location();
            let url = url::Url::parse(&location).unwrap();
            url.query_pairs().find(|(n, _)| n == "code").map(|(_, v)| v.into_owned()).unwrap()
        }
    };
    // An ID token, from a code redeemed now; and a code left waiting for the table.
    let verifier = portcullis::crypto::random_string(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let first = code_for("openid read", challenge.clone()).await;
    let redeemed = app
        .token(
            &confidential,
            &[
                ("grant_type", "authorization_code"),
                ("code", &first),
                ("redirect_uri", REGISTERED),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .assert_token();
    let id_token = redeemed["id_token"].as_str().unwrap().to_owned();
    let code = code_for("read", challenge.clone()).await;
    Fixture { confidential, public, token, id_token, code, verifier, challenge }
}

/// Redirect URIs that are not the registered `https://client.example/cb`, though a
/// person or a lax parser might take them for it.
fn near_misses() -> Vec<(&'static str, String)> {
    vec![
        ("trailing slash", "https://client.example/cb/".into()),
        ("dot segments", "https://client.example/cb/../cb".into()),
        ("encoded dot segments", "https://client.example/%2e%2e/cb".into()),
        ("encoded slash and traversal", "https://client.example/cb%2F..%2Fevil".into()),
        ("encoded path letter", "https://client.example/c%62".into()),
        ("suffix host", "https://client.example.evil.example/cb".into()),
        ("userinfo @", "https://client.example@evil.example/cb".into()),
        ("userinfo @ with port", "https://client.example:443@evil.example/cb".into()),
        ("backslash userinfo", "https://evil.example\\@client.example/cb".into()),
        ("backslash host", "https://evil.example\\client.example/cb".into()),
        ("trailing dot host", "https://client.example./cb".into()),
        ("upper-case host", "https://CLIENT.example/cb".into()),
        ("upper-case scheme", "HTTPS://client.example/cb".into()),
        ("explicit default port", "https://client.example:443/cb".into()),
        ("other port", "https://client.example:8443/cb".into()),
        ("scheme downgrade", "http://client.example/cb".into()),
        ("scheme-relative", "//evil.example/cb".into()),
        ("fullwidth solidus", "https:\u{ff0f}\u{ff0f}client.example\u{ff0f}cb".into()),
        ("fullwidth letter in host", "https://client.\u{ff45}xample/cb".into()),
        ("Cyrillic homoglyph host", "https://\u{441}lient.example/cb".into()),
        ("IDN punycode host", "https://xn--lient-3ve.example/cb".into()),
        ("one dot leader as dot", "https://client\u{2024}example/cb".into()),
        ("zero-width space", "https://client.example/cb\u{200b}".into()),
        ("right-to-left override", "https://client.example/\u{202e}bc".into()),
        ("fragment", "https://client.example/cb#frag".into()),
        ("fragment with @", "https://client.example/cb#@evil.example".into()),
        ("added query", "https://client.example/cb?next=https://evil.example".into()),
        ("path parameter", "https://client.example/cb;evil".into()),
        ("upper-case path", "https://client.example/CB".into()),
        ("trailing space", "https://client.example/cb ".into()),
        ("leading space", " https://client.example/cb".into()),
        ("NUL", "https://client.example/cb\0".into()),
        ("CRLF header injection", "https://client.example/cb\r\nX-Injected: 1".into()),
        ("tab", "https://client.example/\tcb".into()),
        ("javascript scheme", "javascript:alert(document.domain)//https://client.example/cb".into()),
        ("data scheme", "data:text/html,<script>alert(1)</script>".into()),
        ("SQL injection", "https://client.example/cb' OR '1'='1".into()),
    ]
}

fn rows(f: &Fixture) -> Vec<Row> {
    let c = &f.confidential;
    let (cid, csecret) = (c.client_id.as_str(), c.secret.as_deref().unwrap_or_default());
    let pid = f.public.client_id.as_str();
    let mut rows = Vec::new();
    let authorize = |extra: &[(&str, &str)]| {
        let mut all = vec![
            ("response_type", "code"),
            ("client_id", pid),
            ("code_challenge", f.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st"),
        ];
        // A parameter given in `extra` replaces the default one; "" drops it.
        all.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        all.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        format!("/o/authorize/?{}", pairs(&all))
    };
    let redeem = |redirect_uri: Option<&str>, verifier: &str| {
        let mut all =
            vec![("grant_type", "authorization_code"), ("code", f.code.as_str()), ("code_verifier", verifier)];
        if let Some(uri) = redirect_uri {
            all.push(("redirect_uri", uri));
        }
        pairs(&all)
    };

    // --- Controls: well-formed requests answered as usual (nothing stored by them). ---
    rows.push(Row::get("control: the API with the token", "/api/hello/").bearer(&f.token).expect(Expect::Ok("Hello")));
    rows.push(
        Row::get(
            "control: the registered redirect URI goes to the login page",
            authorize(&[("redirect_uri", REGISTERED)]),
        )
        .expect(Expect::Redirect("/accounts/login/".into(), None)),
    );
    rows.push(
        Row::token(
            "control: a wrong password",
            pairs(&[("grant_type", "password"), ("username", "alice"), ("password", "wrong")]),
        )
        .authenticated_as(c)
        .oauth(400, "invalid_grant"),
    );

    // --- SQL injection, in every value that reaches a query. ---
    let injections = [
        "' OR '1'='1",
        "' OR 1=1 --",
        "\" OR \"\"=\"",
        "1; DROP TABLE applications; --",
        "' UNION SELECT password_hash FROM users --",
        "'; SELECT pg_sleep(10); --",
        "x' || (SELECT sqlite_version()) || '",
        "%",
        "_",
        "\\",
    ];
    for (i, sql) in injections.iter().enumerate() {
        // RFC 6749 §5.2 invalid_client: "unknown client".
        rows.push(
            Row::token(
                format!("client_id {sql:?} in the body"),
                pairs(&[("grant_type", "client_credentials"), ("client_id", sql), ("client_secret", "x")]),
            )
            .oauth(401, "invalid_client"),
        );
        rows.push(
            Row::token(format!("client_id {sql:?} in Basic"), pairs(&[("grant_type", "client_credentials")]))
                .basic(sql, "secret")
                .oauth(401, "invalid_client"),
        );
        // RFC 6749 §5.2 invalid_grant: the resource owner credentials are invalid.
        rows.push(
            Row::token(
                format!("username {sql:?}"),
                pairs(&[("grant_type", "password"), ("username", sql), ("password", sql)]),
            )
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
        );
        // RFC 6749 §5.2 invalid_scope: "invalid, unknown, malformed".
        let scope = format!("read {sql}");
        if i < 5 {
            rows.push(
                Row::token(format!("scope {sql:?}"), pairs(&[("grant_type", "client_credentials"), ("scope", &scope)]))
                    .authenticated_as(c)
                    .oauth(400, "invalid_scope"),
            );
            let code = pairs(&[
                ("grant_type", "authorization_code"),
                ("code", sql),
                ("code_verifier", &f.verifier),
                ("redirect_uri", REGISTERED),
            ]);
            rows.push(Row::token(format!("code {sql:?}"), code).authenticated_as(c).oauth(400, "invalid_grant"));
            rows.push(
                Row::token(
                    format!("refresh_token {sql:?}"),
                    pairs(&[("grant_type", "refresh_token"), ("refresh_token", sql)]),
                )
                .authenticated_as(c)
                .oauth(400, "invalid_grant"),
            );
            rows.push(
                Row::token(format!("grant_type {sql:?}"), pairs(&[("grant_type", sql)]))
                    .authenticated_as(c)
                    .oauth(400, "unsupported_grant_type"),
            );
            rows.push(
                Row::token(
                    format!("device_code {sql:?}"),
                    pairs(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", sql)]),
                )
                .authenticated_as(c)
                .oauth(400, "invalid_grant"),
            );
            // RFC 7009 §2.2: an invalid token is answered 200 and revokes nothing.
            rows.push(
                Row::form(
                    format!("revoke token {sql:?}"),
                    "/o/revoke_token/",
                    pairs(&[("token", sql), ("token_type_hint", sql)]),
                )
                .authenticated_as(c)
                .expect(Expect::Status(200)),
            );
            // RFC 7662 §2.2: anything not active is {"active": false}.
            rows.push(
                Row::form(format!("introspect token {sql:?}"), "/o/introspect/", pairs(&[("token", sql)]))
                    .authenticated_as(c)
                    .expect(Expect::Ok("\"active\":false")),
            );
            rows.push(
                Row::get(
                    format!("authorize client_id {sql:?}"),
                    format!(
                        "/o/authorize/?{}",
                        pairs(&[
                            ("response_type", "code"),
                            ("client_id", sql),
                            ("redirect_uri", "https://evil.example/")
                        ])
                    ),
                )
                .expect(Expect::Page(400)),
            );
            rows.push(
                Row::form(
                    format!("device authorization client_id {sql:?}"),
                    "/o/device-authorization/",
                    pairs(&[("client_id", sql)]),
                )
                .oauth(401, "invalid_client"),
            );
        }
    }
    // RFC 6749 Appendix A: no parameter admits a control character but TAB (in
    // passwords); a NUL once reached PostgreSQL, whose text cannot hold it: a 500.
    rows.push(
        Row::token("NUL in a body client_id", "grant_type=client_credentials&client_id=abc%00def&client_secret=x")
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("NUL in a Basic client_id", "grant_type=client_credentials")
            .basic("abc\0def", "x")
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("NUL in the username", "grant_type=password&username=alice%00&password=x")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("NUL in the scope", "grant_type=client_credentials&scope=read%00")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("NUL in a revoked token", "/o/revoke_token/", "token=a%00b")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("NUL in the device client_id", "/o/device-authorization/", format!("client_id={pid}%00"))
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::get("NUL in the authorize client_id", format!("/o/authorize/?response_type=code&client_id={pid}%00"))
            .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get("NUL in the authorize nonce", authorize(&[("redirect_uri", REGISTERED), ("nonce", "n\0")]))
            .expect(Expect::Page(400)),
    );
    rows.push(Row::get("NUL in the logout client_id", "/o/logout/?client_id=a%00").expect(Expect::Page(400)));
    rows.push(
        Row::token(
            "a TAB in the password is only a wrong password",
            "grant_type=password&username=alice&password=a%09b",
        )
        .authenticated_as(c)
        .oauth(400, "invalid_grant"),
    );

    // --- Redirect URIs that are almost the registered one. ---
    // RFC 6749 §3.1.2.4 and §4.1.2.1: the authorization server "MUST NOT automatically
    // redirect the user-agent to the invalid redirection URI": a page, never a redirect.
    for (what, uri) in near_misses() {
        rows.push(
            Row::get(format!("authorize redirect_uri: {what}"), authorize(&[("redirect_uri", &uri)]))
                .expect(Expect::Page(400)),
        );
        // RFC 6749 §4.1.3: the token request's redirect_uri must be "identical" (and one
        // with a control character is no URI at all, Appendix A).
        let code =
            if uri.chars().any(|c| c.is_ascii_control() && c != '\t') { "invalid_request" } else { "invalid_grant" };
        rows.push(
            Row::token(format!("token redirect_uri: {what}"), redeem(Some(&uri), &f.verifier))
                .authenticated_as(c)
                .oauth(400, code),
        );
    }
    rows.push(
        Row::get(
            "authorize: unknown client with a foreign redirect_uri",
            format!(
                "/o/authorize/?{}",
                pairs(&[("response_type", "code"), ("client_id", "nobody"), ("redirect_uri", "https://evil.example/")])
            ),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: no client_id, a foreign redirect_uri",
            format!("/o/authorize/?{}", pairs(&[("response_type", "code"), ("redirect_uri", "https://evil.example/")])),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: raw CRLF in the redirect_uri",
            format!("{}&redirect_uri=https://client.example/cb%0D%0AX-Injected:%201", authorize(&[])),
        )
        .expect(Expect::Page(400)),
    );
    // Errors other than the client's identity go back to it, at the registered URI only,
    // with the state exactly as sent (RFC 6749 §4.1.2.1) and nothing injected.
    rows.push(
        Row::get(
            "authorize: a redirected error keeps to the registered URI",
            authorize(&[("redirect_uri", REGISTERED), ("response_type", "bogus"), ("state", "a b")]),
        )
        .expect(Expect::Redirect(
            format!("{REGISTERED}?error=unsupported_response_type"),
            Some("unsupported_response_type"),
        )),
    );
    // RFC 6749 Appendix A: state is 1*VSCHAR; a CR or LF makes the request unusable, and
    // it is shown a page rather than sent back with the state altered.
    rows.push(
        Row::get(
            "authorize: CRLF in the state",
            authorize(&[("redirect_uri", REGISTERED), ("response_type", "bogus"), ("state", "a\r\nX-Injected: 1")]),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: a state with # and & goes back in the query",
            authorize(&[("redirect_uri", REGISTERED), ("code_challenge_method", "S512"), ("state", "a#b&error=none")]),
        )
        .expect(Expect::Redirect(format!("{REGISTERED}?error=invalid_request"), Some("invalid_request"))),
    );
    // A token request without the redirect_uri its code was issued for (RFC 6749 §4.1.3).
    rows.push(
        Row::token("token: the code without its redirect_uri", redeem(None, &f.verifier))
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
    );
    // RFC 7636 §4.6: a wrong verifier is invalid_grant; §4.1: one outside the grammar too.
    rows.push(
        Row::token("PKCE: another verifier", redeem(Some(REGISTERED), &"a".repeat(43)))
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
    );
    rows.push(
        Row::token("PKCE: a verifier too short", redeem(Some(REGISTERED), &f.verifier[..42]))
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
    );
    rows.push(
        Row::token("PKCE: the challenge as verifier", redeem(Some(REGISTERED), &f.challenge))
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
    );
    rows.push(
        Row::token(
            "PKCE: the verifier with a fullwidth letter",
            redeem(Some(REGISTERED), &format!("{}\u{ff41}", &f.verifier[..47])),
        )
        .authenticated_as(c)
        .oauth(400, "invalid_grant"),
    );
    rows.push(
        Row::token("PKCE: no verifier", redeem(Some(REGISTERED), "")).authenticated_as(c).oauth(400, "invalid_request"),
    );
    // RFC 6749 §4.1.3: the code was issued to another client.
    rows.push(
        Row::token(
            "token: another client's code",
            format!("{}&client_id={pid}", redeem(Some(REGISTERED), &f.verifier)),
        )
        .oauth(400, "invalid_grant"),
    );

    // --- Repeated parameters: RFC 6749 §3.1 and §3.2, "Request and response parameters
    // MUST NOT be included more than once" (invalid_request, §5.2 "repeats a parameter").
    rows.push(
        Row::token("repeated grant_type", "grant_type=client_credentials&grant_type=password")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("repeated grant_type, the first empty", "grant_type=&grant_type=client_credentials")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("repeated grant_type, the second empty", "grant_type=client_credentials&grant_type=")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token(
            "repeated client_id",
            format!("grant_type=client_credentials&client_id={cid}&client_id=other&client_secret={}", enc(csecret)),
        )
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("repeated scope", "grant_type=client_credentials&scope=read&scope=write")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("repeated JSON member", "POST", "/o/token/")
            .body("application/json", r#"{"grant_type":"password","grant_type":"client_credentials"}"#)
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("repeated JSON member, the first null", "POST", "/o/token/")
            .body("application/json", r#"{"grant_type":null,"grant_type":"client_credentials"}"#)
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("revoke: repeated token", "/o/revoke_token/", "token=a&token=b")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("introspect: repeated token", "/o/introspect/", "token=a&token=b")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::get("introspect GET: repeated token", "/o/introspect/?token=a&token=b")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form(
            "device authorization: repeated scope",
            "/o/device-authorization/",
            format!("client_id={pid}&scope=read&scope=write"),
        )
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::get("authorize: repeated client_id", format!("{}&client_id=other", authorize(&[])))
            .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: registered and foreign redirect_uri",
            format!("{}&redirect_uri={}", authorize(&[("redirect_uri", REGISTERED)]), enc("https://evil.example/")),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get("authorize: repeated state", format!("{}&state=again", authorize(&[("redirect_uri", REGISTERED)])))
            .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: repeated response_type",
            format!("{}&response_type=token", authorize(&[("redirect_uri", REGISTERED)])),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "authorize: repeated code_challenge",
            format!("{}&code_challenge={}", authorize(&[("redirect_uri", REGISTERED)]), f.challenge),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "logout: repeated id_token_hint",
            format!("/o/logout/?id_token_hint={0}&id_token_hint={0}", f.id_token),
        )
        .expect(Expect::Page(400)),
    );

    // --- Parameters in the wrong place. RFC 6749 §2.3.1: client credentials "MUST NOT
    // be included in the request URI"; §3.2: the client "MUST use the HTTP "POST" method".
    rows.push(
        Row::token("token: client_secret in the query", "grant_type=client_credentials")
            .authenticated_as(c)
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("client_secret={}", enc(csecret))),
    );
    rows.push(
        Row::token("token: the whole request in the query", "")
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("grant_type=client_credentials&client_id={cid}&client_secret={}", enc(csecret))),
    );
    rows.push(
        Row::token("token: the password in the query", pairs(&[("grant_type", "password"), ("username", "alice")]))
            .authenticated_as(c)
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("password={}", enc(PASSWORD))),
    );
    rows.push(
        Row::form("revoke: the token in the query", "/o/revoke_token/", "")
            .authenticated_as(c)
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("token={}", f.token)),
    );
    rows.push(
        Row::form("introspect POST: the token in the query", "/o/introspect/", "")
            .authenticated_as(c)
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("token={}", f.token)),
    );
    rows.push(
        Row::get(
            "introspect GET: client credentials in the query",
            format!("/o/introspect/?token={}&client_id={cid}&client_secret={}", f.token, enc(csecret)),
        )
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("device authorization: client_id in the query", "/o/device-authorization/", "")
            .expect(Expect::OAuth(400, "invalid_request"))
            .target_query(&format!("client_id={pid}")),
    );
    // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method".
    rows.push(
        Row::token(
            "Basic and client_secret in the body",
            format!("grant_type=client_credentials&client_id={cid}&client_secret={}", enc(csecret)),
        )
        .authenticated_as(c)
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("Basic and another client_id in the body", format!("grant_type=client_credentials&client_id={pid}"))
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("Bearer at the token endpoint", "grant_type=client_credentials")
            .bearer(&f.token)
            .oauth(401, "invalid_client"),
    );
    rows.push(
        Row::token("an unknown scheme at the token endpoint", "grant_type=client_credentials")
            .header("Authorization", "Digest username=\"x\"")
            .oauth(401, "invalid_client"),
    );
    rows.push(
        Row::token("two Authorization headers", "grant_type=client_credentials")
            .authenticated_as(c)
            .bearer(&f.token)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("Basic that is not base64", "grant_type=client_credentials")
            .header("Authorization", "Basic !!!")
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("Basic without a colon", "grant_type=client_credentials")
            .header("Authorization", format!("Basic {}", STANDARD.encode(cid)))
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("Basic with invalid UTF-8", "grant_type=client_credentials")
            .header("Authorization", format!("Basic {}", STANDARD.encode(b"\xff\xfe:x")))
            .oauth(400, "invalid_request"),
    );
    // RFC 6750 §2.2 and §2.3 are optional, and Portcullis takes bearer tokens in the
    // header only: a token elsewhere is no token (§3.1, no error code).
    rows.push(
        Row::get("API: the token in the query", format!("/api/hello/?access_token={}", f.token))
            .expect(Expect::Bearer(401, None)),
    );
    rows.push(
        Row::new("API: the token in a form body", "PATCH", "/api/me/")
            .body("application/x-www-form-urlencoded", format!("access_token={}", f.token))
            .expect(Expect::Bearer(401, None)),
    );

    // --- Oversized values. ---
    rows.push(
        Row::token("a 17 KiB form body", format!("grant_type=client_credentials&x={}", "a".repeat(17 * 1024)))
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("a 100 KiB form body", format!("grant_type=client_credentials&x={}", "a".repeat(100 * 1024)))
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::form("a 100 KiB consent form", "/o/authorize/", format!("x={}", "a".repeat(100 * 1024)))
            .expect(Expect::Status(413)),
    );
    rows.push(
        Row::form("a 100 KiB logout form", "/o/logout/", format!("x={}", "a".repeat(100 * 1024)))
            .expect(Expect::Status(413)),
    );
    rows.push(
        Row::token(
            "a 5000-byte client_id",
            format!("grant_type=client_credentials&client_id={}&client_secret=x", "c".repeat(5000)),
        )
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("a 5000-byte scope", format!("grant_type=client_credentials&scope={}", "read+".repeat(1000)))
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("a 100-byte parameter name", format!("grant_type=client_credentials&{}=1", "n".repeat(100)))
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token(
            "40 parameters",
            format!("grant_type=client_credentials{}", (0..40).map(|i| format!("&p{i}=1")).collect::<String>()),
        )
        .authenticated_as(c)
        .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("an 8 KiB client_id in Basic", "grant_type=client_credentials")
            .basic(&"c".repeat(8 * 1024), "x")
            .oauth(401, "invalid_client"),
    );
    rows.push(
        Row::get(
            "authorize: a 5000-byte state",
            authorize(&[("redirect_uri", REGISTERED), ("state", &"s".repeat(5000))]),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get("API: a 12 KiB bearer token", "/api/hello/")
            .bearer(&"t".repeat(12 * 1024))
            .expect(Expect::Bearer(401, Some("invalid_token"))),
    );
    // Past `server.max_header_bytes` (16 KiB): refused before any handler runs
    // (RFC 6585 §5, 431 Request Header Fields Too Large).
    rows.push(
        Row::get("API: a 20 KiB bearer token", "/api/hello/")
            .bearer(&"t".repeat(20 * 1024))
            .expect(Expect::Status(431)),
    );

    // --- Wrong methods: the token endpoint is POST only (RFC 6749 §3.2). ---
    for (method, path) in [
        ("GET", "/o/token/"),
        ("PUT", "/o/token/"),
        ("DELETE", "/o/token/"),
        ("HEAD", "/o/token/"),
        ("OPTIONS", "/o/token/"),
        ("GET", "/o/revoke_token/"),
        ("PATCH", "/o/introspect/"),
        ("GET", "/o/device-authorization/"),
        ("POST", "/api/hello/"),
        ("DELETE", "/api/me/"),
    ] {
        rows.push(Row::new(format!("{method} {path}"), method, path).expect(Expect::Status(405)));
    }
    rows.push(
        Row::get(
            "GET /o/token/ with a complete request in the query",
            format!("/o/token/?grant_type=client_credentials&client_id={cid}&client_secret={}", enc(csecret)),
        )
        .expect(Expect::Status(405)),
    );

    // --- Wrong content types and bodies (RFC 6749 §3.2: application/x-www-form-urlencoded;
    // JSON is a Portcullis extension, and then only an object of strings).
    let json = |what: &str, body: &str| {
        Row::new(format!("JSON: {what}"), "POST", "/o/token/")
            .body("application/json", body.to_owned())
            .authenticated_as(c)
    };
    rows.push(
        Row::new("text/plain", "POST", "/o/token/")
            .body("text/plain", "grant_type=client_credentials")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("multipart/form-data", "POST", "/o/token/")
            .body(
                "multipart/form-data; boundary=b",
                "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b--\r\n",
            )
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("application/xml", "POST", "/o/token/")
            .body("application/xml", "<grant_type>client_credentials</grant_type>")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("two media types in one Content-Type", "POST", "/o/token/")
            .body("application/x-www-form-urlencoded, application/json", "grant_type=client_credentials")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("a body without a Content-Type", "POST", "/o/token/")
            .authenticated_as(c)
            .with_raw_body("grant_type=client_credentials")
            .oauth(400, "invalid_request"),
    );
    rows.push(json("a number", r#"{"grant_type":1}"#).oauth(400, "invalid_request"));
    rows.push(json("an array", r#"{"grant_type":["client_credentials"]}"#).oauth(400, "invalid_request"));
    rows.push(json("an object", r#"{"grant_type":{"$ne":null}}"#).oauth(400, "invalid_request"));
    rows.push(
        json("a boolean", r#"{"grant_type":"password","username":"alice","password":true}"#)
            .oauth(400, "invalid_request"),
    );
    rows.push(json("malformed", r#"{"grant_type":"client_credentials""#).oauth(400, "invalid_request"));
    rows.push(json("a top-level array", r#"[["grant_type","client_credentials"]]"#).oauth(400, "invalid_request"));
    rows.push(json("a top-level string", r#""grant_type=client_credentials""#).oauth(400, "invalid_request"));
    rows.push(json("trailing garbage", r#"{"grant_type":"client_credentials"} x"#).oauth(400, "invalid_request"));
    rows.push(
        json("a byte-order mark", "\u{feff}{\"grant_type\":\"client_credentials\"}").oauth(400, "invalid_request"),
    );
    rows.push(
        Row::new("JSON under an upper-case media type is still read", "POST", "/o/token/")
            .body(
                "APPLICATION/JSON; charset=utf-8",
                r#"{"grant_type":"password","username":"alice","password":"wrong"}"#,
            )
            .authenticated_as(c)
            .oauth(400, "invalid_grant"),
    );
    rows.push(
        Row::token("form: %FF is not UTF-8", "grant_type=client_credentials&scope=%FF")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("form: a raw byte that is not UTF-8", b"grant_type=client_credentials&scope=\xff".to_vec())
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("form: an overlong UTF-8 slash", "grant_type=client_credentials&scope=%C0%AF")
            .authenticated_as(c)
            .oauth(400, "invalid_request"),
    );
    rows.push(
        Row::token("form: an invalid escape is literal", "grant_type=%ZZ")
            .authenticated_as(c)
            .oauth(400, "unsupported_grant_type"),
    );
    rows.push(
        Row::token("form: a lone %", "grant_type=client%_credentials")
            .authenticated_as(c)
            .oauth(400, "unsupported_grant_type"),
    );

    // --- Broken HTTP: refused before any handler. ---
    rows.push(
        Row::new("CRLF in the request target", "GET", "/o/authorize/?state=a\r\nX-Injected: 1")
            .expect(Expect::Status(400)),
    );
    rows.push(
        Row::get("NUL in a header value", "/api/hello/")
            .header("Authorization", b"Bearer a\0b".to_vec())
            .expect(Expect::Status(400)),
    );
    rows.push(
        Row::token("Content-Length and Transfer-Encoding together", "grant_type=client_credentials")
            .header("Transfer-Encoding", "chunked")
            .header("Content-Length", "29")
            .expect(Expect::Status(400)),
    );
    rows.push(Row::get("path traversal to the admin pages", "/o/../admin/users/").expect(Expect::Status(404)));
    rows.push(Row::get("encoded path traversal", "/o/%2e%2e/admin/users/").expect(Expect::Status(404)));

    // --- Bearer headers (RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the
    // scheme is case-insensitive, RFC 9110 §11.1). ---
    rows.push(
        Row::get("bearer: lower-case scheme", "/api/hello/")
            .header("Authorization", format!("bearer {}", f.token))
            .expect(Expect::Ok("Hello")),
    );
    rows.push(
        Row::get("bearer: upper-case scheme", "/api/hello/")
            .header("Authorization", format!("BEARER {}", f.token))
            .expect(Expect::Ok("Hello")),
    );
    rows.push(
        Row::get("bearer: two spaces", "/api/hello/")
            .header("Authorization", format!("Bearer  {}", f.token))
            .expect(Expect::Ok("Hello")),
    );
    rows.push(
        Row::get("bearer: two tokens", "/api/hello/")
            .header("Authorization", format!("Bearer {0} {0}", f.token))
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: the scheme alone", "/api/hello/")
            .header("Authorization", "Bearer")
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: a comma", "/api/hello/")
            .header("Authorization", format!("Bearer {},", f.token))
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: quoted", "/api/hello/")
            .header("Authorization", format!("Bearer \"{}\"", f.token))
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: SQL injection", "/api/hello/")
            .bearer("' OR 1=1 --")
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: a well-formed unknown token", "/api/hello/")
            .bearer("mF_9.B5f-4.1JqM==")
            .expect(Expect::Bearer(401, Some("invalid_token"))),
    );
    rows.push(
        Row::get("bearer: the ID token", "/api/hello/")
            .bearer(&f.id_token)
            .expect(Expect::Bearer(401, Some("invalid_token"))),
    );
    rows.push(
        Row::get("bearer: a tab after the scheme", "/api/hello/")
            .header("Authorization", format!("Bearer\t{}", f.token))
            .expect(Expect::Bearer(401, None)),
    );
    rows.push(
        Row::get("bearer: not ASCII", "/api/hello/")
            .header("Authorization", b"Bearer caf\xc3\xa9".to_vec())
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::get("bearer: Basic instead", "/api/hello/")
            .header("Authorization", "Basic dXNlcjpwYXNz")
            .expect(Expect::Bearer(401, None)),
    );
    rows.push(
        Row::get("bearer: two headers", "/api/hello/")
            .bearer(&f.token)
            .bearer(&f.token)
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::new("bearer: a read token may not write", "PATCH", "/api/me/")
            .body("application/json", r#"{"first_name":"'; DROP TABLE users; --"}"#)
            .bearer(&f.token)
            .expect(Expect::Bearer(403, Some("insufficient_scope"))),
    );
    rows.push(
        Row::get("bearer: a read token and the groups scope", "/api/groups/")
            .bearer(&f.token)
            .expect(Expect::Bearer(403, Some("insufficient_scope"))),
    );
    rows.push(
        Row::get("bearer: userinfo with two tokens", "/o/userinfo/")
            .header("Authorization", format!("Bearer {0} {0}", f.token))
            .expect(Expect::Bearer(400, Some("invalid_request"))),
    );
    rows.push(
        Row::form(
            "introspect: a bearer without the introspection scope",
            "/o/introspect/",
            format!("token={}", f.token),
        )
        .bearer(&f.token)
        .expect(Expect::Bearer(403, Some("insufficient_scope"))),
    );
    rows.push(
        Row::form("introspect: an unknown bearer", "/o/introspect/", format!("token={}", f.token))
            .bearer("unknown-token")
            .expect(Expect::Bearer(401, Some("invalid_token"))),
    );

    // --- ID tokens handed back (OpenID Connect Core §3.1.2.1 id_token_hint). ---
    let forged = forge_unsigned(&f.id_token);
    rows.push(
        Row::get(
            "authorize: id_token_hint is garbage",
            authorize(&[("redirect_uri", REGISTERED), ("id_token_hint", "garbage")]),
        )
        .expect(Expect::Redirect(format!("{REGISTERED}?error=invalid_request"), Some("invalid_request"))),
    );
    rows.push(
        Row::get(
            "authorize: id_token_hint with alg none",
            authorize(&[("redirect_uri", REGISTERED), ("id_token_hint", &forged)]),
        )
        .expect(Expect::Redirect(format!("{REGISTERED}?error=invalid_request"), Some("invalid_request"))),
    );
    rows.push(
        Row::get(
            "authorize: another client's ID token as hint",
            authorize(&[("redirect_uri", REGISTERED), ("id_token_hint", &f.id_token)]),
        )
        .expect(Expect::Redirect(format!("{REGISTERED}?error=invalid_request"), Some("invalid_request"))),
    );
    rows.push(
        Row::get("logout: id_token_hint is garbage", "/o/logout/?id_token_hint=garbage").expect(Expect::Page(400)),
    );
    rows.push(
        Row::get("logout: id_token_hint with alg none", format!("/o/logout/?id_token_hint={forged}"))
            .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "logout: a foreign post_logout_redirect_uri",
            format!(
                "/o/logout/?{}",
                pairs(&[("id_token_hint", &f.id_token), ("post_logout_redirect_uri", "https://evil.example/")])
            ),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get(
            "logout: a post_logout_redirect_uri and no client",
            format!("/o/logout/?{}", pairs(&[("post_logout_redirect_uri", REGISTERED)])),
        )
        .expect(Expect::Page(400)),
    );
    rows.push(
        Row::get("logout: client_id injection", format!("/o/logout/?{}", pairs(&[("client_id", "' OR 1=1 --")])))
            .expect(Expect::Page(400)),
    );

    // --- The server's own address comes from its settings, never from the request. ---
    rows.push(
        Row::get("discovery with a forged Host", "/o/.well-known/openid-configuration")
            .header("X-Forwarded-Host", "evil.example")
            .expect(Expect::Ok("\"issuer\"")),
    );
    rows
}

impl Row {
    /// Adds `query` to the request target.
    fn target_query(mut self, query: &str) -> Self {
        self.target = format!("{}?{query}", self.target);
        self
    }

    /// A body sent without a `Content-Type`.
    fn with_raw_body(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self
    }
}

/// The ID token with its header replaced by `{"alg":"none"}` and no signature.
fn forge_unsigned(id_token: &str) -> String {
    let payload = id_token.split('.').nth(1).unwrap();
    format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#))
}

async fn hostile_requests_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app).await;
    let rows = rows(&fixture);
    assert!(rows.len() >= 100, "only {} rows", rows.len());
    let addr = app.base.trim_start_matches("http://").to_owned();

    let before = snapshot(&app.db.url).await;
    let events_before = app.store.list_audit_events(&AuditFilter::default(), 1).await.unwrap();
    let last_before = events_before.first().map_or(0, |e| e.id);
    let mut failures = Vec::new();
    for row in &rows {
        let raw = send(&addr, &row.bytes()).await;
        if let Err(panic) = std::panic::catch_unwind(|| check(row, &raw)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(message);
        }
    }
    let after = snapshot(&app.db.url).await;
    // Failed logins are the one thing a refused request records, on purpose: wrong
    // passwords in the password grant count toward the login limits and go to the
    // audit log. Those two tables may only gain rows, and only of those kinds.
    const RECORDS: [&str; 2] = ["login_failures", "audit_events"];
    for table in RECORDS {
        let kept = before[table].iter().all(|row| after[table].contains(row));
        assert!(kept, "{table}: rows changed or went");
    }
    let events = app.store.list_audit_events(&AuditFilter::default(), 10_000).await.unwrap();
    for event in events.iter().filter(|e| e.id > last_before) {
        assert!(
            matches!(event.event.kind, AuditKind::LoginFailed | AuditKind::LoginThrottled),
            "a refused request recorded {:?}",
            event.event.kind
        );
    }
    let changed: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|table| !RECORDS.contains(&table.as_str()) && before.get(*table) != after.get(*table))
        .collect();
    assert!(
        failures.is_empty() && changed.is_empty(),
        "{} of {} rows failed:\n{}\ntables changed: {changed:?}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The login form is not in the table (a failed login is recorded), so its NUL is here:
/// on PostgreSQL it failed the throttling query with a 500.
async fn a_nul_in_the_login_form_is_refused_not_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let answer =
        browser.submit("/accounts/login/", "/accounts/login/", &[("username", "alice\0"), ("password", "x")]).await;
    assert_eq!(answer.status.as_u16(), 400, "{}", answer.text);
    // The account is not locked by it, and logging in still works.
    browser.login("alice", PASSWORD).await;
}

/// Sends every request at once, each on its own connection, and returns the answers.
async fn send_all_at_once(local: [u8; 4], addr: &str, requests: Vec<Vec<u8>>) -> Vec<Raw> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|bytes| {
            let (barrier, addr) = (barrier.clone(), addr.to_owned());
            tokio::spawn(async move {
                barrier.wait().await;
                send_from(local, &addr, &bytes).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Client ids are public. A stranger floods one with wrong secrets (a client-credentials
/// request each, from an address of its own): past the burst it is refused, and the
/// client, from its own address, is still served.
async fn a_flood_of_wrong_secrets_sent_as_bytes_locks_out_only_the_flooder(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.token_requests_per_second = 10;
        c.limits.token_request_burst = 20;
    })
    .await;
    let victim = app.client(ClientType::Confidential, &[GrantType::ClientCredentials], None).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let guess = Row::token("wrong secret", "grant_type=client_credentials").basic(&victim.client_id, "wrong");
    let flood = (0..100).map(|_| guess.bytes()).collect();
    let answers = send_all_at_once([127, 0, 0, 2], &addr, flood).await;
    let refused = answers.iter().filter(|a| a.status == 429).count();
    assert!(answers.iter().all(|a| a.status == 401 || a.status == 429), "{:?}", answers.iter().map(|a| a.status));
    assert!(refused >= 70, "the flood is limited: {refused} of 100 refused");
    let own = Row::token("the client's own", "grant_type=client_credentials").authenticated_as(&victim);
    let served = send_from([127, 0, 0, 1], &addr, &own.bytes()).await;
    assert_eq!(served.status, 200, "{}", served.text());
}

/// Wrong passwords for one account sent at once through the password grant: at most
/// the account's limit (5) are checked; the rest, and then the right password, get 429.
async fn concurrent_password_guesses_sent_as_bytes_get_the_limit_and_no_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.client(ClientType::Confidential, &[GrantType::Password], None).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let guesses = (0..30)
        .map(|i| {
            let body = pairs(&[("grant_type", "password"), ("username", "alice"), ("password", &format!("guess{i}"))]);
            Row::token("guess", body).authenticated_as(&client).bytes()
        })
        .collect();
    let answers = send_all_at_once([127, 0, 0, 1], &addr, guesses).await;
    let checked = answers.iter().filter(|a| a.status != 429).count();
    assert_eq!(checked, 5, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    let right = pairs(&[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)]);
    let late = send(&addr, &Row::token("right", right).authenticated_as(&client).bytes()).await;
    assert_eq!(late.status, 429, "{}", late.text());
}

/// The cookie `name` a raw answer sets, as a `Cookie` header value.
fn set_cookie(raw: &Raw, name: &str) -> String {
    raw.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie: {:?}", raw.headers))
        .to_owned()
}

/// The session cookie a raw answer sets.
fn session_cookie(raw: &Raw) -> String {
    set_cookie(raw, "portcullis_session")
}

/// The consent bypass, replayed as bytes: an ordinary user logs in and posts the
/// application form with `skip_authorization=on`, whatever the page offered, to
/// register an app and to change one. Both are refused and nothing is stored; a
/// victim who opens the attacker's link is shown the consent page, and no code leaves.
async fn an_ordinary_user_cannot_make_an_app_skip_consent_with_forged_bytes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mallory = app.user("mallory").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let login_page = send(&addr, &Row::get("login page", "/accounts/login/").bytes()).await;
    let csrf = crate::helpers::csrf_token(&login_page.text());
    let login = pairs(&[("csrf_token", &csrf), ("username", "mallory"), ("password", PASSWORD), ("next", "/")]);
    let login =
        Row::form("login", "/accounts/login/", login).header("Cookie", set_cookie(&login_page, "portcullis_csrf"));
    let logged_in = send(&addr, &login.bytes()).await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.text());
    let cookie = session_cookie(&logged_in);
    let form =
        send(&addr, &Row::get("form", "/o/applications/register/").header("Cookie", cookie.clone()).bytes()).await;
    let csrf = crate::helpers::csrf_token(&form.text());
    let callback = "https://mallory.example/cb";
    let attack = |path: &str| {
        let body = pairs(&[
            ("csrf_token", &csrf),
            ("name", "Photo Printer"),
            ("client_type", "public"),
            ("grant_type", "authorization-code"),
            ("redirect_uris", callback),
            ("skip_authorization", "on"),
        ]);
        Row::form("consent bypass", path, body).header("Cookie", cookie.clone()).bytes()
    };
    let before = snapshot(&app.db.url).await;
    let refused = send(&addr, &attack("/o/applications/register/")).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(snapshot(&app.db.url).await["applications"], before["applications"], "nothing registered");

    // An application of mallory's own, made without the flag, and then the flag forged
    // into its edit form.
    let owned = app
        .client_with(ClientType::Public, &[GrantType::AuthorizationCode], None, |a| {
            a.settings.redirect_uris = vec![callback.into()];
            a.owner_id = Some(mallory.id);
        })
        .await;
    let stored = app.store.application_by_client_id(&owned.client_id).await.unwrap().unwrap();
    let before = snapshot(&app.db.url).await;
    let refused = send(&addr, &attack(&format!("/o/applications/{}/update/", stored.id))).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(snapshot(&app.db.url).await["applications"], before["applications"], "nothing changed");

    // The victim is asked.
    let victim = Browser::new(&app);
    app.user("alice").await;
    victim.login("alice", PASSWORD).await;
    let query = pairs(&[
        ("response_type", "code"),
        ("client_id", &owned.client_id),
        ("redirect_uri", callback),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ]);
    let page = victim.get(&format!("/o/authorize/?{query}")).await;
    assert_eq!(page.status.as_u16(), 200, "the consent page, not a redirect with a code: {:?}", page.headers);
    assert!(page.headers.get("location").is_none());
}

/// The open redirect through logout, replayed as bytes: a link to `/o/logout/` with an
/// application's registered `post_logout_redirect_uri` and no `id_token_hint`, opened by
/// a visitor with no session (GET) or posted to by a page (POST), is answered with a
/// page that names the host, never a redirect (RP-Initiated Logout 1.0 §2: without a
/// hint "the OP … SHOULD ask the End-User").
async fn an_anonymous_logout_link_sent_as_bytes_redirects_nowhere_unasked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bye = "https://elsewhere.example/bye";
    let rp = crate::helpers::Client { client_id: portcullis::crypto::random_alphanumeric(32), secret: None };
    let fields = portcullis::store::ApplicationSettings {
        name: "Photo Printer".into(),
        client_type: ClientType::Public,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec![REGISTERED.into()],
        post_logout_redirect_uris: vec![bye.into()],
        allowed_origins: vec![],
        allowed_scopes: None,
        skip_authorization: false,
        algorithm: portcullis::proto::SigningAlgorithm::Rs256,
        access_token_format: portcullis::proto::AccessTokenFormat::Opaque,
        resource_server_uris: vec![],
    };
    app.store.create_application(&rp.client_id, None, None, &fields, app.clock_now()).await.unwrap();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let query = pairs(&[("client_id", &rp.client_id), ("post_logout_redirect_uri", bye), ("state", "s")]);
    for row in [
        Row::get("anonymous logout link", format!("/o/logout/?{query}")),
        Row::form("anonymous logout post", "/o/logout/", query.clone()),
        Row::get(
            "anonymous logout link, the URI's case changed",
            format!("/o/logout/?{}", query.replace("elsewhere", "ELSEWHERE")),
        ),
    ] {
        let raw = send(&addr, &row.bytes()).await;
        assert!(raw.header("location").is_none(), "{}: redirected to {:?}", row.what, raw.header("location"));
        assert!(matches!(raw.status, 200 | 400), "{}: {}", row.what, raw.status);
        if raw.status == 200 {
            assert!(raw.text().contains("elsewhere.example"), "{}: the page names the host: {}", row.what, raw.text());
        }
    }
}

/// A stranger without cookies asking for the login page (or the logout question) again
/// and again: each answer carries a CSRF token in a cookie of its own, and nothing is
/// stored, so the requests cannot fill the database. The token still protects the
/// form: it is good only with the cookie that came with it.
async fn anonymous_page_views_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let before = snapshot(&app.db.url).await;
    let mut pages = Vec::new();
    for _ in 0..50 {
        pages.push(send(&addr, &Row::get("login page", "/accounts/login/").bytes()).await);
    }
    let logout = send(&addr, &Row::get("logout page", "/o/logout/").bytes()).await;
    assert_eq!(logout.status, 200);
    assert_eq!(snapshot(&app.db.url).await, before, "anonymous page views stored something");
    // Each page's token is good with its own cookie, and with no other.
    let form = |page: &Raw, cookie: &str| {
        let csrf = crate::helpers::csrf_token(&page.text());
        let body = pairs(&[("csrf_token", &csrf), ("username", "alice"), ("password", PASSWORD), ("next", "/")]);
        Row::form("login", "/accounts/login/", body).header("Cookie", cookie.to_owned()).bytes()
    };
    let theirs = set_cookie(&pages[1], "portcullis_csrf");
    assert_eq!(send(&addr, &form(&pages[0], &theirs)).await.status, 403, "another visitor's cookie");
    let forged = Row::form("no cookie", "/accounts/login/", "csrf_token=x&username=alice&password=y").bytes();
    assert_eq!(send(&addr, &forged).await.status, 403, "no cookie at all");
    let own = send(&addr, &form(&pages[0], &set_cookie(&pages[0], "portcullis_csrf"))).await;
    assert_eq!(own.status, 303, "{}", own.text());
    let cookie = session_cookie(&own);
    assert!(cookie.len() > "portcullis_session=".len());
}
