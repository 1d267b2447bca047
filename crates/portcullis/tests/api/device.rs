//! The device authorization grant (RFC 8628): the device's request, the user's page,
//! and each answer polling gets, on the test clock.

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::Value;

use crate::authorize::logged_in;
use crate::helpers::{csrf_token, hidden_field, Backend, Browser, Client, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        device_flow_from_code_to_tokens,
        device_flow_gives_a_jwt_naming_the_approving_user,
        polling_answers_pending_slow_down_denied_and_expired,
        device_authorization_checks_the_client,
        wrong_user_codes_are_limited_and_the_form_needs_its_token,
    ]
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn tv(app: &TestApp) -> Client {
    app.client(ClientType::Public, &[GrantType::DeviceCode], None).await
}

/// §3.1: the device asks for codes.
async fn start(app: &TestApp, client: &Client, scope: &str) -> Value {
    let answer =
        app.post_form("/o/device-authorization/", None, &[("client_id", &client.client_id), ("scope", scope)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    answer.json()
}

async fn poll(app: &TestApp, client: &Client, device_code: &str) -> crate::helpers::Answer {
    app.post_form(
        "/o/token/",
        None,
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", &client.client_id)],
    )
    .await
}

/// The user types `code` on the page; returns the confirmation page.
async fn type_code(browser: &Browser, code: &str) -> crate::helpers::Answer {
    browser.submit("/o/device/", "/o/device/", &[("user_code", code)]).await
}

/// Types the code and presses `button` (`allow` or `cancel`) on the question.
async fn answer_device(browser: &Browser, code: &str, button: &str) -> crate::helpers::Answer {
    let question = type_code(browser, code).await;
    assert_eq!(question.status, StatusCode::OK);
    assert!(question.text.contains("Authorize Test app?"), "{}", question.text);
    let csrf = csrf_token(&question.text);
    let shown = hidden_field(&question.text, "user_code").unwrap();
    let pressed = if button == "allow" { ("allow", "Authorize") } else { ("cancel", "Cancel") };
    browser.post("/o/device/", &[("csrf_token", &csrf), ("user_code", &shown), pressed]).await
}

async fn device_flow_from_code_to_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = tv(&app).await;
    let codes = start(&app, &client, "read write").await;
    // §3.2: the response's members.
    let user_code = codes["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "four letters, a dash, four letters: {user_code}");
    assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{user_code}");
    assert_eq!(codes["verification_uri"], "http://127.0.0.1:8000/o/device/");
    assert_eq!(codes["verification_uri_complete"], format!("http://127.0.0.1:8000/o/device/?user_code={user_code}"));
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5, "device_flow_interval");
    let device_code = codes["device_code"].as_str().unwrap();
    assert!(device_code.len() >= 43);

    // The user follows verification_uri_complete: logged in, the code is filled in.
    let browser = logged_in(&app).await;
    let page = browser.get(&format!("/o/device/?user_code={user_code}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&format!("value=\"{user_code}\"")), "{}", page.text);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // Typed in lower case with spaces, it is the same code (§6.1).
    let sloppy = user_code.to_lowercase().replace('-', " ");
    let question = type_code(&browser, &sloppy).await;
    assert!(question.text.contains("read") && question.text.contains("write"), "{}", question.text);
    let done = answer_device(&browser, user_code, "allow").await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.text.contains("Device connected"), "{}", done.text);

    // §3.5: the next poll gets the tokens, for the user who approved.
    let tokens = poll(&app, &client, device_code).await.assert_token();
    assert_eq!(tokens["scope"], "read write");
    assert!(tokens["refresh_token"].is_string());
    let me = app.get_with_token("/api/me/", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me.json()["username"], "alice");
    // Once only: the device code is spent.
    app.clock.advance(10);
    poll(&app, &client, device_code).await.assert_error(400, "invalid_grant");
    // And the user code cannot be answered again.
    let again = type_code(&browser, user_code).await;
    assert!(again.text.contains("not valid"), "{}", again.text);
}

/// A JWT names its user in a signature, so the store cannot fill the user in after the
/// fact: the poll that follows the approval must mint for the approving user.
async fn device_flow_gives_a_jwt_naming_the_approving_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .client_with(ClientType::Public, &[GrantType::DeviceCode], None, |a| {
            a.settings.access_token_format = portcullis::proto::AccessTokenFormat::Jwt;
        })
        .await;
    let codes = start(&app, &client, "read").await;
    let device_code = codes["device_code"].as_str().unwrap();
    poll(&app, &client, device_code).await.assert_error(400, "authorization_pending");
    let browser = logged_in(&app).await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();
    let done = answer_device(&browser, codes["user_code"].as_str().unwrap(), "allow").await;
    assert_eq!(done.status, StatusCode::OK);
    app.clock.advance(5);
    let tokens = poll(&app, &client, device_code).await.assert_token();
    let token = tokens["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).expect("a JWT");
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], alice.id.to_string(), "RFC 9068 §2.2: sub is the resource owner who approved");
    assert_eq!(app.get_with_token("/api/me/", token).await.json()["username"], "alice");
}

async fn polling_answers_pending_slow_down_denied_and_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = tv(&app).await;
    let codes = start(&app, &client, "read").await;
    let device_code = codes["device_code"].as_str().unwrap();
    // "authorization_pending … the end user hasn't yet completed the user-interaction
    // steps".
    poll(&app, &client, device_code).await.assert_error(400, "authorization_pending");
    // Polling again within the interval: slow_down, and the interval grows by 5 s.
    app.clock.advance(4);
    poll(&app, &client, device_code).await.assert_error(400, "slow_down");
    app.clock.advance(9);
    poll(&app, &client, device_code).await.assert_error(400, "slow_down"); // 9 < 10
    app.clock.advance(15);
    poll(&app, &client, device_code).await.assert_error(400, "authorization_pending"); // 15 >= 15
                                                                                       // The user says no: access_denied.
    let browser = logged_in(&app).await;
    let done = answer_device(&browser, codes["user_code"].as_str().unwrap(), "cancel").await;
    assert!(done.text.contains("Access denied"), "{}", done.text);
    app.clock.advance(20);
    poll(&app, &client, device_code).await.assert_error(400, "access_denied");

    // Nobody answers for 600 s: expired_token, and the page refuses the code.
    let late = start(&app, &client, "read").await;
    app.clock.advance(600);
    poll(&app, &client, late["device_code"].as_str().unwrap()).await.assert_error(400, "expired_token");
    let page = type_code(&browser, late["user_code"].as_str().unwrap()).await;
    assert!(page.text.contains("not valid, or it has expired"), "{}", page.text);

    // An unknown device code, and another client's, are invalid_grant.
    poll(&app, &client, "no-such-code").await.assert_error(400, "invalid_grant");
    let fresh = start(&app, &client, "read").await;
    let other = tv(&app).await;
    poll(&app, &other, fresh["device_code"].as_str().unwrap()).await.assert_error(400, "invalid_grant");
    poll(&app, &client, fresh["device_code"].as_str().unwrap()).await.assert_error(400, "authorization_pending");
}

async fn device_authorization_checks_the_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let web = app.client(ClientType::Public, &[GrantType::AuthorizationCode], None).await;
    let answer = app.post_form("/o/device-authorization/", None, &[("client_id", &web.client_id)]).await;
    answer.assert_error(400, "unauthorized_client");
    let answer = app.post_form("/o/device-authorization/", None, &[("client_id", "nobody")]).await;
    answer.assert_error(401, "invalid_client");
    // A confidential client must authenticate (RFC 6749 §3.2.1 applies, §3.1).
    let secret_tv = app.client(ClientType::Confidential, &[GrantType::DeviceCode], Some("read")).await;
    let answer = app.post_form("/o/device-authorization/", None, &[("client_id", &secret_tv.client_id)]).await;
    answer.assert_error(401, "invalid_client");
    let answer = app.post_form("/o/device-authorization/", Some(&secret_tv), &[("scope", "write")]).await;
    answer.assert_error(400, "invalid_scope");
    let answer = app.post_form("/o/device-authorization/", Some(&secret_tv), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["interval"], 5);
}

async fn wrong_user_codes_are_limited_and_the_form_needs_its_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = tv(&app).await;
    let codes = start(&app, &client, "read").await;
    let right = codes["user_code"].as_str().unwrap();
    let browser = logged_in(&app).await;
    // Without the form's CSRF token nothing is looked up.
    let forged = browser.post("/o/device/", &[("user_code", right), ("allow", "Authorize")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A logged-out visitor is sent to log in first.
    let stranger = Browser::new(&app).get("/o/device/?user_code=BCDF-GHJK").await;
    assert!(stranger.location().starts_with("/accounts/login/?next=%2Fo%2Fdevice%2F"), "{}", stranger.location());
    // Five wrong codes, then even the right one is refused for a while (§5.1: "the
    // authorization server SHOULD rate-limit user code attempts").
    for wrong in ["BCDF-GHJK", "ZZZZ-ZZZZ", "nonsense", "", "BCDF-GHJL"] {
        let page = type_code(&browser, wrong).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("not valid"), "{wrong}: {}", page.text);
    }
    let blocked = type_code(&browser, right).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.header("retry-after").is_some());
    poll(&app, &client, codes["device_code"].as_str().unwrap()).await.assert_error(400, "authorization_pending");
}
