//! RFC 8707 resource indicators over HTTP: the `resource` parameter at the authorization,
//! device authorization and token endpoints, for every grant; what the tokens are bound
//! to; and every way a request can ask for more than it may.

use jsonwebtoken::dangerous::insecure_decode;
use portcullis::crypto::TokenHash;
use portcullis::proto::{AccessTokenFormat, ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::Value;

use crate::authorize::{
    answer_consent, authorize_url, logged_in, param, pkce, query_of, register_signing_with, REDIRECT,
};
use crate::helpers::{csrf_token, hidden_field, Backend, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        client_credentials_and_password_name_resources_directly,
        code_flow_binds_its_tokens_and_the_token_request_may_narrow,
        a_code_authorized_for_one_resource_is_invalid_target_for_another,
        an_unbound_grant_may_be_bound_at_the_token_endpoint,
        refresh_narrows_from_two_resources_to_one_and_never_widens,
        device_flow_carries_its_resources,
        implicit_tokens_are_bound_too,
        resources_survive_the_login_page,
        standing_consent_covers_only_the_resources_the_user_saw,
        malformed_and_disallowed_resources_are_invalid_target,
        jwt_access_tokens_carry_the_resources_as_aud,
        openid_client_library_sends_resources_and_gets_a_bound_token,
    ]
}

const A: &str = "https://a.example/api";
const B: &str = "https://b.example/";
const C: &str = "https://c.example/";

/// The audience the store keeps for an access token, as resource URIs.
async fn audience(app: &TestApp, token: &Value) -> Vec<String> {
    let value = token["access_token"].as_str().expect("an access token");
    let record = app.store.access_token(&TokenHash::of(value)).await.unwrap().expect("the token is stored");
    record.audience.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

async fn code_client(app: &TestApp) -> Client {
    let grants = [GrantType::AuthorizationCode, GrantType::Implicit];
    register_signing_with(app, ClientType::Confidential, &[REDIRECT], &grants, false, "RS256").await
}

/// Runs the code flow for alice with `resources` on the authorization request, and
/// returns the code and its PKCE verifier.
async fn authorized_code(app: &TestApp, client: &Client, resources: &[&str]) -> (String, String) {
    let browser = match app.store.user_by_username("alice").await.unwrap() {
        Some(_) => logged_in_again(app).await,
        None => logged_in(app).await,
    };
    let p = pkce();
    let mut request = vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("state", "s1"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    request.extend(resources.iter().map(|r| ("resource", *r)));
    let url = authorize_url(client, &request);
    let page = browser.get(&url).await;
    // The consent page names the APIs the access would work at.
    for resource in resources {
        let shown = format!("<code>{}</code>", resource.replace('/', "&#x2f;"));
        assert!(page.text.contains(&shown), "{resource}: {}", page.text);
    }
    let answer = answer_consent(&browser, &url, "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let code = param(&query_of(&answer.location()), "code").expect("a code");
    (code, p.verifier)
}

fn code_exchange<'a>(code: &'a str, verifier: &'a str, resources: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    form
}

async fn client_credentials_and_password_name_resources_directly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    // RFC 8707 §2: "Multiple resource parameters MAY be used to indicate that the
    // requested token is intended to be used at multiple resources."
    let one = app.token(&client, &[("grant_type", "client_credentials"), ("resource", A)]).await.assert_token();
    assert_eq!(audience(&app, &one).await, [A]);
    let two = app
        .token(&client, &[("grant_type", "client_credentials"), ("resource", B), ("resource", A), ("resource", B)])
        .await
        .assert_token();
    assert_eq!(audience(&app, &two).await, [A, B], "repeats collapse");
    let none = app.client_credentials(&client).await;
    assert!(audience(&app, &none).await.is_empty(), "no resource named: not bound");

    let password = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)];
    let one = app.token(&client, &[&password[..], &[("resource", A)]].concat()).await.assert_token();
    assert_eq!(audience(&app, &one).await, [A]);
    let two = app.token(&client, &[&password[..], &[("resource", A), ("resource", B)]].concat()).await.assert_token();
    assert_eq!(audience(&app, &two).await, [A, B]);
    // The refresh token carries the grant's resources: a refresh gets them again.
    let refresh = two["refresh_token"].as_str().unwrap();
    let again = app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await.assert_token();
    assert_eq!(audience(&app, &again).await, [A, B]);
}

async fn code_flow_binds_its_tokens_and_the_token_request_may_narrow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    // One resource, exchanged without naming it: the token is for that resource.
    let (code, verifier) = authorized_code(&app, &client, &[A]).await;
    let tokens = app.token(&client, &code_exchange(&code, &verifier, &[])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [A]);

    // Two, exchanged for one of them: RFC 8707 §2.2, the token request names the
    // resource it wants this access token for, among those authorized.
    let (code, verifier) = authorized_code(&app, &client, &[A, B]).await;
    let tokens = app.token(&client, &code_exchange(&code, &verifier, &[B])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [B]);
    // Its refresh token still covers both: a refresh may ask for the other.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = app
        .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", A)])
        .await
        .assert_token();
    assert_eq!(audience(&app, &other).await, [A]);
}

async fn a_code_authorized_for_one_resource_is_invalid_target_for_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    let (code, verifier) = authorized_code(&app, &client, &[A]).await;
    // RFC 8707 §2: "invalid_target: The requested resource is invalid, missing, unknown,
    // or malformed."
    let refused = app.token(&client, &code_exchange(&code, &verifier, &[B])).await;
    refused.assert_error(400, "invalid_target");
    let refused = app.token(&client, &code_exchange(&code, &verifier, &[A, B])).await;
    refused.assert_error(400, "invalid_target");
    // Nothing was spent: the code still buys a token for what it was authorized for.
    let tokens = app.token(&client, &code_exchange(&code, &verifier, &[A])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [A]);
}

async fn an_unbound_grant_may_be_bound_at_the_token_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    let (code, verifier) = authorized_code(&app, &client, &[]).await;
    // Binding narrows where the token works: the user's grant allowed any resource.
    let tokens = app.token(&client, &code_exchange(&code, &verifier, &[C])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [C]);
}

async fn refresh_narrows_from_two_resources_to_one_and_never_widens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    let (code, verifier) = authorized_code(&app, &client, &[A, B]).await;
    let tokens = app.token(&client, &code_exchange(&code, &verifier, &[])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [A, B]);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let refresh_with = |token: String, resources: Vec<&'static str>| {
        let app = &app;
        let client = &client;
        async move {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            form.extend(resources.iter().map(|r| ("resource", *r)));
            app.token(client, &form).await
        }
    };
    // Wider than the grant: refused, and the refresh token is not spent.
    refresh_with(refresh.clone(), vec![A, C]).await.assert_error(400, "invalid_target");
    let narrowed = refresh_with(refresh, vec![A]).await.assert_token();
    assert_eq!(audience(&app, &narrowed).await, [A]);
    // The successor keeps the grant's two.
    let successor = narrowed["refresh_token"].as_str().unwrap().to_owned();
    let both = refresh_with(successor, vec![]).await.assert_token();
    assert_eq!(audience(&app, &both).await, [A, B]);
}

async fn device_flow_carries_its_resources(backend: Backend) {
    const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    let app = TestApp::spawn(backend).await;
    let client = app.client(ClientType::Public, &[GrantType::DeviceCode], None).await;
    let start = |resources: Vec<&'static str>| {
        let (app, client) = (&app, &client);
        async move {
            let mut form = vec![("client_id", client.client_id.as_str()), ("scope", "read")];
            form.extend(resources.iter().map(|r| ("resource", *r)));
            app.post_form("/o/device-authorization/", None, &form).await
        }
    };
    // RFC 8707 §2: a bad resource at the device authorization endpoint is refused there.
    start(vec!["/relative"]).await.assert_error(400, "invalid_target");
    let codes = start(vec![A, B]).await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.text);
    let codes = codes.json();
    let (user_code, device_code) = (codes["user_code"].as_str().unwrap(), codes["device_code"].as_str().unwrap());
    let browser = logged_in(&app).await;
    let question = browser.submit("/o/device/", "/o/device/", &[("user_code", user_code)]).await;
    for resource in [A, B] {
        let shown = format!("<code>{}</code>", resource.replace('/', "&#x2f;"));
        assert!(question.text.contains(&shown), "the device page names {resource}: {}", question.text);
    }
    let csrf = csrf_token(&question.text);
    let shown = hidden_field(&question.text, "user_code").unwrap();
    let done =
        browser.post("/o/device/", &[("csrf_token", &csrf), ("user_code", &shown), ("allow", "Authorize")]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);

    let poll = |resource: Option<&'static str>| {
        let (app, client) = (&app, &client);
        let device_code = device_code.to_owned();
        async move {
            let mut form = vec![
                ("grant_type", DEVICE_GRANT),
                ("device_code", device_code.as_str()),
                ("client_id", &client.client_id),
            ];
            form.extend(resource.map(|r| ("resource", r)));
            app.post_form("/o/token/", None, &form).await
        }
    };
    poll(Some(C)).await.assert_error(400, "invalid_target");
    let tokens = poll(Some(B)).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [B]);
}

async fn resources_survive_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    app.user("alice").await;
    let browser = crate::helpers::Browser::new(&app);
    let p = pkce();
    let request = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", A),
        ("resource", B),
    ];
    let url = authorize_url(&client, &request);
    let to_login = browser.get(&url).await.location();
    let login_page = browser.get(&to_login).await;
    let next = hidden_field(&login_page.text, "next").unwrap();
    assert_eq!(next, url, "the whole request, both resources included, waits behind the login");
    let form =
        [("username", "alice"), ("password", PASSWORD), ("csrf_token", &csrf_token(&login_page.text)), ("next", &next)];
    let back = browser.post("/accounts/login/", &form).await.location();
    let answer = answer_consent(&browser, &back, "allow").await;
    let code = param(&query_of(&answer.location()), "code").unwrap();
    let tokens = app.token(&client, &code_exchange(&code, &p.verifier, &[])).await.assert_token();
    assert_eq!(audience(&app, &tokens).await, [A, B]);
}

async fn standing_consent_covers_only_the_resources_the_user_saw(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    authorized_code(&app, &client, &[A]).await;
    let browser = logged_in_again(&app).await;
    let auto = |resources: &[&'static str]| {
        let mut request = vec![("response_type", "token"), ("scope", "read"), ("approval_prompt", "auto")];
        request.extend(resources.iter().map(|r| ("resource", *r)));
        authorize_url(&client, &request)
    };
    // The user agreed to `read` at A: asked again for A it is answered at once...
    let again = browser.get(&auto(&[A])).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.text);
    assert!(again.location().starts_with(REDIRECT), "{}", again.location());
    // ...but B, or a token for any resource, was never shown: the consent page comes back.
    for resources in [&[A, B][..], &[]] {
        let page = browser.get(&auto(resources)).await;
        assert_eq!(page.status, StatusCode::OK, "{resources:?}");
        assert!(page.text.contains("Authorize Photo Printer?"), "{resources:?}");
    }
}

async fn implicit_tokens_are_bound_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app).await;
    let browser = logged_in(&app).await;
    let url = authorize_url(&client, &[("response_type", "token"), ("scope", "read"), ("resource", A)]);
    let location = answer_consent(&browser, &url, "allow").await.location();
    let (_, fragment) = location.split_once('#').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    let token = serde_json::json!({ "access_token": param(&pairs, "access_token").unwrap() });
    assert_eq!(audience(&app, &token).await, [A]);
}

async fn malformed_and_disallowed_resources_are_invalid_target(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.oauth2.allowed_resources = vec![A.into(), B.into()]).await;
    app.user("alice").await;
    let client = app.confidential().await;
    // RFC 8707 §2: "Its value MUST be an absolute URI ... it MUST NOT include a fragment
    // component"; and a resource the server does not serve is invalid_target too.
    for bad in ["https://a.example/api#frag", "/api", "api", "//a.example/api", C, "https://a.example/api/"] {
        let answer = app.token(&client, &[("grant_type", "client_credentials"), ("resource", bad)]).await;
        answer.assert_error(400, "invalid_target");
        assert!(!answer.text.contains(bad), "the description does not repeat the value: {}", answer.text);
    }
    app.token(&client, &[("grant_type", "client_credentials"), ("resource", A)]).await.assert_token();
    // RFC 8707 lets `resource` repeat, but a token for more than ten APIs is refused.
    let open = TestApp::spawn(backend).await;
    let anyone = open.confidential().await;
    let many: Vec<String> = (0..=10).map(|i| format!("https://a.example/api?tenant={i}")).collect();
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(many.iter().map(|r| ("resource", r.as_str())));
    open.token(&anyone, &form).await.assert_error(400, "invalid_target");
    form.pop();
    let ten = open.token(&anyone, &form).await.assert_token();
    assert_eq!(audience(&open, &ten).await.len(), 10);

    // At the authorization endpoint the error goes back to the client, with its state.
    let code = code_client(&app).await;
    let browser = logged_in_again(&app).await;
    for bad in ["https://a.example/api#frag", "/api", C] {
        let url = authorize_url(
            &code,
            &[("response_type", "code"), ("redirect_uri", REDIRECT), ("state", "st"), ("resource", bad)],
        );
        let answer = browser.get(&url).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{bad}: {}", answer.text);
        let pairs = query_of(&answer.location());
        assert_eq!(param(&pairs, "error").as_deref(), Some("invalid_target"), "{bad}");
        assert_eq!(param(&pairs, "state").as_deref(), Some("st"));
    }
    // Nothing was stored for any of them.
    let counted = app.store.count_live_tokens(app.clock_now()).await.unwrap();
    assert_eq!(counted, 1, "only the one good token");
}

/// alice, already created, logged in a fresh browser.
async fn logged_in_again(app: &TestApp) -> crate::helpers::Browser {
    let browser = crate::helpers::Browser::new(app);
    browser.login("alice", PASSWORD).await;
    browser
}

async fn jwt_access_tokens_carry_the_resources_as_aud(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .client_with(ClientType::Confidential, &[GrantType::ClientCredentials], None, |a| {
            a.settings.access_token_format = AccessTokenFormat::Jwt;
        })
        .await;
    let aud = |token: &Value| {
        let jwt = token["access_token"].as_str().unwrap();
        let claims: Value = insecure_decode::<Value>(jwt).unwrap().claims;
        claims["aud"].clone()
    };
    // RFC 9068 §3: "If the request includes a resource parameter (as defined in
    // [RFC8707]), the resulting JWT access token aud claim SHOULD have the same value as
    // the resource parameter in the request."
    let one = app.token(&client, &[("grant_type", "client_credentials"), ("resource", A)]).await.assert_token();
    assert_eq!(aud(&one), serde_json::json!(A));
    let two = app
        .token(&client, &[("grant_type", "client_credentials"), ("resource", A), ("resource", B)])
        .await
        .assert_token();
    assert_eq!(aud(&two), serde_json::json!([A, B]));
    // Without one, "the authorization server MUST use a default resource indicator in
    // the aud claim": the configured audience, by default the issuer.
    let none = app.client_credentials(&client).await;
    assert_eq!(aud(&none), serde_json::json!("http://127.0.0.1:8000/o"));
}

/// A client built on the `openidconnect` crate (the `oauth2` crate's request builders)
/// sends `resource` as its extra parameters, repeated, and gets a token bound to them.
async fn openid_client_library_sends_resources_and_gets_a_bound_token(backend: Backend) {
    use openidconnect::core::CoreClient;
    use openidconnect::{AuthUrl, ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, TokenUrl};

    let app = TestApp::spawn(backend).await;
    let registered = app.confidential().await;
    let client = CoreClient::new(
        ClientId::new(registered.client_id.clone()),
        IssuerUrl::new(app.url("/o")).unwrap(),
        openidconnect::JsonWebKeySet::default(),
    )
    .set_client_secret(ClientSecret::new(registered.secret.clone().unwrap()))
    .set_auth_uri(AuthUrl::new(app.url("/o/authorize/")).unwrap())
    .set_token_uri(TokenUrl::new(app.url("/o/token/")).unwrap());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let tokens = client
        .exchange_client_credentials()
        .add_extra_param("resource", A)
        .add_extra_param("resource", B)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client credentials: {e:?}"));
    let token = serde_json::json!({ "access_token": tokens.access_token().secret() });
    assert_eq!(audience(&app, &token).await, [A, B]);
    let refused =
        client.exchange_client_credentials().add_extra_param("resource", "/relative").request_async(&http).await;
    let error = format!("{:?}", refused.expect_err("a relative resource is refused"));
    assert!(error.contains("invalid_target"), "{error}");
}
