//! The token endpoint (RFC 6749 §3.2, §4, §5), from the bytes of a request: the body's
//! parameters as the server parses them (form or JSON), then the whole request through
//! the real router, against a real SQLite database with a public and a confidential
//! client whose secret the fuzzer cannot know, and no users.
//!
//! Input: the `Content-Type` on the first line and the `Authorization` header on the
//! second (empty: none; `basic-plain id:secret` is sent base64-encoded as Basic), then
//! the body.

#![no_main]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::body::Body;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use portcullis::accounts::{Account, Accounts};
use portcullis::config::Config;
use portcullis::crypto::Secret;
use portcullis::fuzzing::body_params;
use portcullis::oauth::ErrorCode;
use portcullis::provider::Provider;
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::{ApplicationSettings, StoreError};
use serde_json::Value;
use tower::ServiceExt;

/// The largest body the OAuth endpoints read.
const MAX_BODY: usize = 16 * 1024;

/// Nobody can log in: the password grant's parsing and checks run, and no password
/// hash is computed per input (which would make the fuzzer crawl).
struct NoAccounts;

#[async_trait]
impl Accounts for NoAccounts {
    async fn authenticate(&self, _: &str, _: &str) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
    async fn user(&self, _: i64) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
}

struct Server {
    router: Router,
    runtime: tokio::runtime::Runtime,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
        let router = runtime.block_on(async {
            let path = std::env::temp_dir().join(format!("portcullis-fuzz-token-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            let store = portcullis::store::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // The rate limit and the login throttle are off: the fuzzer sends thousands
            // of requests a second for one client and one username, and a 429 would
            // stop every later input from reaching the parsers under test. The limits
            // have their own tests (tests/api/limits.rs).
            let mut config = Config::defaults();
            config.limits.token_requests_per_second = 0;
            config.limits.login_failures_per_account = 0;
            config.limits.login_failures_per_address = 0;
            let provider = Provider::builder(config, store.clone())
                .accounts(Arc::new(NoAccounts))
                .build()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let all = vec![
                GrantType::AuthorizationCode,
                GrantType::Password,
                GrantType::ClientCredentials,
                GrantType::DeviceCode,
            ];
            for (client_id, client_type) in
                [("fuzz-public", ClientType::Public), ("fuzz-confidential", ClientType::Confidential)]
            {
                // A fresh random secret per process: no input can carry it.
                let secret = (client_type == ClientType::Confidential).then(|| Secret::generate().hash());
                let settings = ApplicationSettings {
                    name: client_id.into(),
                    client_type,
                    grant_types: all.clone(),
                    redirect_uris: vec!["https://client.example/cb".into()],
                    ..ApplicationSettings::default()
                };
                store
                    .create_application(client_id, secret.as_ref(), None, &settings, 0)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            provider.router()
        });
        Server { router, runtime }
    })
}

/// RFC 6749 §5.2: "error_description … MUST NOT include characters outside the set
/// %x20-21 / %x23-5B / %x5D-7E."
fn rfc6749_description(text: &str) -> bool {
    text.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The parameters as a plain reading of the form gives them, or why the server must
/// refuse them: RFC 6749 §3.1, §3.2 ("Request and response parameters MUST NOT be
/// included more than once"; "Parameters sent without a value MUST be treated as if
/// they were omitted").
fn form_oracle(body: &[u8]) -> Option<Vec<(String, String)>> {
    std::str::from_utf8(body).ok()?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let names: BTreeSet<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    // RFC 6749 Appendix A: no parameter admits a control character but TAB.
    let bad = |s: &str| s.contains('\u{fffd}') || s.chars().any(|c| c.is_ascii_control() && c != '\t');
    if names.len() != pairs.len() || pairs.iter().any(|(n, v)| bad(n) || bad(v)) {
        return None;
    }
    let mut kept: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    kept.sort();
    Some(kept)
}

fn check_params(body: &[u8], headers: &HeaderMap) {
    // A media type is ASCII (RFC 9110 §8.3.1); other bytes make it one nobody reads.
    let content_type = headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    let media =
        content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).filter(|m| !m.is_empty());
    match body_params(headers, body) {
        Ok(mut params) => {
            assert!(body.len() <= MAX_BODY, "a body of {} bytes was read", body.len());
            assert!(params.len() <= 32);
            for (name, value) in &params {
                assert!(name.len() <= 64 && !value.is_empty() && value.len() <= 4096, "{name:?}");
                let control = name.chars().chain(value.chars()).any(|c| c.is_ascii_control() && c != '\t');
                assert!(!control, "a control character in {name:?} = {value:?} (RFC 6749 Appendix A)");
            }
            params.sort();
            match media.as_deref() {
                Some("application/x-www-form-urlencoded") => {
                    assert_eq!(Some(params), form_oracle(body), "the form {:?}", String::from_utf8_lossy(body));
                }
                Some("application/json") => {
                    let Ok(object) = serde_json::from_slice::<serde_json::Map<String, Value>>(body) else {
                        panic!("read parameters from a body that is no JSON object")
                    };
                    for (name, value) in &params {
                        assert_eq!(object.get(name).and_then(Value::as_str), Some(value.as_str()));
                    }
                    for (name, value) in &object {
                        match value {
                            Value::String(s) if !s.is_empty() => assert!(params.iter().any(|(n, _)| n == name)),
                            Value::String(_) | Value::Null => {}
                            other => panic!("member {name} = {other} accepted as a parameter"),
                        }
                    }
                }
                None => assert!(body.is_empty() && params.is_empty()),
                Some(other) => panic!("a body of type {other:?} was read"),
            }
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            // A form within the limits that a plain reading accepts must be accepted.
            if media.as_deref() == Some("application/x-www-form-urlencoded") && body.len() <= MAX_BODY {
                if form_oracle(body).is_some() {
                    let all: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
                    let lengths_ok = all.iter().all(|(n, v)| n.len() <= 64 && v.len() <= 4096);
                    assert!(
                        !(lengths_ok && all.len() <= 32),
                        "refused the form {:?}: {e:?}",
                        String::from_utf8_lossy(body)
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let content_type = lines.next().unwrap_or_default();
    let authorization = lines.next().unwrap_or_default();
    let body = lines.next().unwrap_or_default();

    let mut headers = HeaderMap::new();
    let content_type = std::str::from_utf8(content_type).ok().filter(|c| !c.is_empty());
    if let Some(ct) = content_type {
        let Ok(value) = HeaderValue::from_str(ct) else { return };
        headers.insert(CONTENT_TYPE, value);
    }
    let authorization: Option<Vec<u8>> = match authorization.strip_prefix(b"basic-plain ") {
        Some(plain) => Some(format!("Basic {}", STANDARD.encode(plain)).into_bytes()),
        None => (!authorization.is_empty()).then(|| authorization.to_vec()),
    };
    if let Some(auth) = &authorization {
        let Ok(value) = HeaderValue::from_bytes(auth) else { return };
        headers.insert(AUTHORIZATION, value);
    }
    check_params(body, &headers);

    // The whole endpoint.
    let server = server();
    let mut request = Request::builder().method(Method::POST).uri("/o/token/");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };
    let (status, answer_headers, answer) = server.runtime.block_on(async {
        let response = server.router.clone().oneshot(request).await.unwrap_or_else(|e| match e {});
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        (parts.status, parts.headers, bytes)
    });

    // No input gets a token: the only secret is random, and there are no users, codes,
    // refresh tokens or device codes.
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "status {status} for {data:?}: {}",
        String::from_utf8_lossy(&answer)
    );
    // RFC 6749 §5.1, and on errors too.
    assert_eq!(answer_headers.get(CACHE_CONTROL).map(HeaderValue::as_bytes), Some(&b"no-store"[..]));
    assert_eq!(answer_headers.get(PRAGMA).map(HeaderValue::as_bytes), Some(&b"no-cache"[..]));
    let Ok(answer) = serde_json::from_slice::<Value>(&answer) else { panic!("not JSON: {answer:?}") };
    let error = answer["error"].as_str().unwrap_or_else(|| panic!("no error code: {answer}"));
    // RFC 6749 §5.2's codes, and only those.
    assert!(
        [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope"
        ]
        .contains(&error),
        "error {error:?}"
    );
    assert_eq!(status == StatusCode::UNAUTHORIZED, error == "invalid_client", "{status} {answer}");
    let description = answer["error_description"].as_str().unwrap_or_default();
    assert!(rfc6749_description(description), "error_description {description:?} breaks RFC 6749 §5.2");
    // RFC 6749 §5.2: "If the client attempted to authenticate via the "Authorization"
    // request header field, the authorization server MUST respond with an HTTP 401
    // (Unauthorized) status code and include the "WWW-Authenticate" response header
    // field matching the authentication scheme used by the client."
    let challenge = answer_headers.get(WWW_AUTHENTICATE);
    if error == "invalid_client" && authorization.is_some() {
        assert!(challenge.is_some(), "invalid_client after an Authorization header, without a challenge");
    }
    if challenge.is_some() {
        assert!(authorization.is_some() && status == StatusCode::UNAUTHORIZED);
    }

    // No secret comes back in an answer.
    if let Ok(params) = body_params(&headers, body) {
        for (name, value) in &params {
            let secret =
                matches!(name.as_str(), "client_secret" | "password" | "code" | "refresh_token" | "code_verifier");
            let elsewhere =
                params.iter().any(|(n, v)| n != name && (v.contains(value.as_str()) || n.contains(value.as_str())));
            if secret && value.len() >= 16 && !elsewhere {
                assert!(!answer.to_string().contains(value.as_str()), "the {name} came back: {answer}");
            }
        }
    }
});
