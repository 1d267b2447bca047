//! The shop example over real HTTP on loopback, with a real SQLite file: the provider
//! mounted at `/auth`, the shop's own users and hooks, and the shop's own route
//! guarded by the provider's tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::config::Config;
use portcullis::crypto::Secret;
use portcullis::proto::{ClientType, GrantType, SigningAlgorithm};
use portcullis::provider::{BuildError, Provider};
use portcullis::store::ApplicationSettings;
use portcullis_example_embedded::{shop, Shop, ShopUsers, FRONT_END};
use reqwest::StatusCode;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://front.example/callback";

struct Running {
    base: String,
    shop: Shop,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

struct Client {
    id: String,
    secret: String,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::defaults();
    config.oidc.issuer = format!("{base}/auth/o");
    let store = portcullis::store::connect(&url).await.unwrap();
    let mut users = ShopUsers::default();
    users.add(1001, "ada", PASSWORD).unwrap();
    users.add(1002, "bob", PASSWORD).unwrap();
    let shop = shop(config, store, users).await.unwrap();
    let router = shop.router.clone();
    tokio::spawn(async move { portcullis::http::server::serve(listener, router, std::future::pending()).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Running { base, shop, http, _dir: dir }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn client(&self, name: &str, grants: &[GrantType]) -> Client {
        let secret = Secret::generate();
        let id = portcullis::crypto::random_alphanumeric(32);
        let settings = ApplicationSettings {
            name: name.into(),
            client_type: ClientType::Confidential,
            grant_types: grants.to_vec(),
            redirect_uris: vec![REDIRECT.into()],
            algorithm: SigningAlgorithm::Es256,
            ..ApplicationSettings::default()
        };
        let store = &self.shop.provider.state().store;
        store.create_application(&id, Some(&secret.hash()), None, &settings, 1_800_000_000).await.unwrap();
        Client { id, secret: secret.expose().to_owned() }
    }

    async fn token(&self, client: &Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/auth/o/token/"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn password_token(
        &self,
        client: &Client,
        username: &str,
        password: &str,
        scope: &str,
    ) -> (StatusCode, Value) {
        let form = [("grant_type", "password"), ("username", username), ("password", password), ("scope", scope)];
        self.token(client, &form).await
    }

    async fn orders(&self, token: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut request = self.http.get(self.url("/orders"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (response.status(), challenge, response.text().await.unwrap())
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("a redirect").to_str().unwrap().to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    let value = &html[start..start + html[start..].find('"').unwrap()];
    value.replace("&amp;", "&").replace("&#x2f;", "/").replace("&#x3d;", "=").replace("&quot;", "\"")
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_answers_under_its_prefix_and_the_shop_at_its_own_paths() {
    let shop = start().await;
    let home = shop.http.get(shop.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("/auth/accounts/login/"));

    // OpenID Connect Discovery §4: the issuer plus /.well-known/openid-configuration.
    let doc: Value =
        shop.http.get(shop.url("/auth/o/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], shop.url("/auth/o"), "§4.3: the issuer is the URL the document was asked of");
    assert_eq!(doc["token_endpoint"], shop.url("/auth/o/token/"));
    assert_eq!(doc["authorization_endpoint"], shop.url("/auth/o/authorize/"));
    assert_eq!(doc["jwks_uri"], shop.url("/auth/o/.well-known/jwks.json"));
    let jwks = shop.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);

    // Nothing of the provider's leaks out of its prefix.
    for path in ["/o/token/", "/accounts/login/", "/o/.well-known/openid-configuration"] {
        let response = shop.http.get(shop.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let login = shop.http.get(shop.url("/auth/accounts/login/")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"action="/auth/accounts/login/""#), "the form posts under the prefix");
    assert!(html.contains(r#"href="/auth/static/portcullis.css""#), "and its stylesheet is found there");
    let css = shop.http.get(shop.url("/auth/static/portcullis.css")).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shops_customers_get_tokens_that_name_them_and_open_the_shops_api() {
    let shop = start().await;
    let app = shop.client("Mobile app", &[GrantType::Password]).await;

    // RFC 6750 §3.1 at the shop's own route.
    let (status, challenge, _) = shop.orders(None).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"api\"")));

    let (status, body) = shop.password_token(&app, "ada", PASSWORD, "read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (status, _, orders) = shop.orders(Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    let orders: Value = serde_json::from_str(&orders).unwrap();
    assert_eq!(orders["customer"], "1001", "the token names the customer by the shop's own id");

    // RFC 6749 §5.2: wrong credentials are invalid_grant, unknown users alike.
    for (username, password) in [("ada", "wrong password"), ("nobody", PASSWORD)] {
        let (status, body) = shop.password_token(&app, username, password, "read").await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    }

    // The provider mirrors the account under the same id, with no password of its own.
    let store = &shop.shop.provider.state().store;
    let row = store.user_by_id(1001).await.unwrap().expect("a row for the shop's customer");
    assert_eq!((row.username.as_str(), row.password_hash.is_none()), ("ada", true));
    assert!(store.user_by_username("bob").await.unwrap().is_none(), "only customers who used it");

    // A closed account's refresh token stops working (RFC 6749 §5.2 invalid_grant).
    let refresh = body_refresh(&shop, &app).await;
    shop.shop.users.0.lock().unwrap_or_else(PoisonError::into_inner).close("ada");
    let (status, body) = shop.token(&app, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}

impl Running {
    /// Whether `token` still opens each door: the shop's own route (the store verifier),
    /// introspection (RFC 7662 §2.2 "active"), the provider's `/api/me/` and UserInfo.
    async fn token_works(&self, caller: &Client, token: &str) -> [bool; 4] {
        let (orders, _, _) = self.orders(Some(token)).await;
        let introspection: Value = self
            .http
            .post(self.url("/auth/o/introspect/"))
            .basic_auth(&caller.id, Some(&caller.secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let me = self.http.get(self.url("/auth/api/me/")).bearer_auth(token).send().await.unwrap().status();
        let userinfo = self.http.get(self.url("/auth/o/userinfo/")).bearer_auth(token).send().await.unwrap().status();
        [
            orders == StatusCode::OK,
            introspection["active"] == Value::Bool(true),
            me == StatusCode::OK,
            userinfo == StatusCode::OK,
        ]
    }
}

/// A shop that closes an account tells the provider (`Provider::deactivate_user`): the
/// customer's access tokens stop at once, everywhere tokens are checked, as a
/// revocation would stop them, though they have not expired. A closed account must not
/// keep its access for the ten hours its tokens live.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_accounts_access_tokens_stop_at_once() {
    let shop = start().await;
    let app = shop.client("Mobile app", &[GrantType::Password, GrantType::ClientCredentials]).await;
    let (status, body) = shop.password_token(&app, "ada", PASSWORD, "openid read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (status, body) = shop.password_token(&app, "bob", PASSWORD, "openid read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bobs = body["access_token"].as_str().unwrap();
    assert_eq!(shop.token_works(&app, token).await, [true; 4]);

    shop.shop.close_account("ada").await.unwrap();
    assert_eq!(shop.token_works(&app, token).await, [false; 4], "ada's token outlived her account");
    assert_eq!(shop.token_works(&app, bobs).await, [true; 4], "only ada's tokens stop");
    // She cannot get another.
    let (status, body) = shop.password_token(&app, "ada", PASSWORD, "read").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Opened again (a new account under the same id), the customer logs in and her new
    // tokens work; the provider's copy follows the shop's word.
    shop.shop.users.0.lock().unwrap_or_else(PoisonError::into_inner).add(1001, "ada", PASSWORD).unwrap();
    let (status, body) = shop.password_token(&app, "ada", PASSWORD, "openid read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shop.token_works(&app, body["access_token"].as_str().unwrap()).await, [true; 4]);
}

/// A shop that closes an account without saying so: the provider learns it the next
/// time it asks the shop about her (here a refresh; a page of her session or UserInfo
/// ask too), and from then on her access tokens stop everywhere, not only where the
/// shop was asked.
#[tokio::test(flavor = "multi_thread")]
async fn the_shops_answer_that_an_account_is_gone_stops_its_access_tokens() {
    let shop = start().await;
    let app = shop.client("Mobile app", &[GrantType::Password]).await;
    let (status, body) = shop.password_token(&app, "ada", PASSWORD, "openid read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(shop.token_works(&app, token).await, [true; 4]);

    shop.shop.users.0.lock().unwrap_or_else(PoisonError::into_inner).close("ada");
    let (status, body) = shop.token(&app, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(shop.token_works(&app, token).await, [false; 4], "the shop said she is gone");
}

async fn body_refresh(shop: &Running, app: &Client) -> String {
    let (status, body) = shop.password_token(app, "ada", PASSWORD, "read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_logs_in_and_consents_through_the_mounted_pages() {
    let shop = start().await;
    let app = shop.client(FRONT_END, &[GrantType::AuthorizationCode]).await;
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let verifier = "a-plain-verifier-of-forty-three-characters-1234";
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile read")
        .append_pair("state", "xyz")
        .append_pair("nonce", "n-0S6")
        .append_pair("code_challenge", verifier)
        .append_pair("code_challenge_method", "plain")
        .finish();
    let authorize = format!("/auth/o/authorize/?{query}");

    // A stranger is sent to the login page under the prefix, to come back here.
    let first = browser.get(shop.url(&authorize)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    let to_login = location(&first);
    assert!(to_login.starts_with("/auth/accounts/login/?next="), "{to_login}");
    let page = browser.get(shop.url(&to_login)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("username", "ada".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf_token", hidden(&page, "csrf_token")),
        ("next", hidden(&page, "next")),
    ];
    let logged_in = browser.post(shop.url("/auth/accounts/login/")).form(&form).send().await.unwrap();
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    let back = location(&logged_in);
    assert!(back.starts_with("/auth/o/authorize/?"), "back to the request, under the prefix: {back}");

    // The consent page, whose form posts under the prefix.
    let consent = browser.get(shop.url(&back)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let html = consent.text().await.unwrap();
    assert!(html.contains(r#"action="/auth/o/authorize/""#), "{html}");
    let mut answer: Vec<(String, String)> = Vec::new();
    for name in ["csrf_token", "response_type", "client_id", "redirect_uri", "scope", "state", "nonce"] {
        answer.push((name.into(), hidden(&html, name)));
    }
    answer.push(("code_challenge".into(), hidden(&html, "code_challenge")));
    answer.push(("code_challenge_method".into(), hidden(&html, "code_challenge_method")));
    answer.push(("allow".into(), "Authorize".into()));
    let granted = browser.post(shop.url("/auth/o/authorize/")).form(&answer).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::SEE_OTHER);
    let to_client = url::Url::parse(&location(&granted)).unwrap();
    assert!(to_client.as_str().starts_with(REDIRECT), "RFC 6749 §4.1.2: back to the client: {to_client}");
    let code = to_client.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let (status, tokens) = shop.token(&app, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], shop.url("/auth/o"));
    assert_eq!(id_token["sub"], "1001", "the shop's id for ada");
    assert_eq!(id_token["preferred_username"], "ada");
    assert_eq!(id_token["customer_since"], 2019, "the shop's extra claim");

    // UserInfo, under the prefix, names her too.
    let info = shop
        .http
        .get(shop.url("/auth/o/userinfo/"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    assert_eq!(info.json::<Value>().await.unwrap()["sub"], "1001");

    // The hook saw exactly this issuance, without the token.
    let events = shop.shop.hooks.issued.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].grant.as_str(), events[0].user_id, events[0].client_id.as_str()),
        ("authorization_code", Some(1001), app.id.as_str())
    );
    assert_eq!(events[0].scope, "openid profile read");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shops_scope_policy_and_its_scopes_hold() {
    let shop = start().await;
    let other = shop.client("Partner app", &[GrantType::Password]).await;
    let front = shop.client(FRONT_END, &[GrantType::Password]).await;

    // The hook's policy: RFC 6749 §5.2 invalid_scope for anyone but the front end.
    let (status, body) = shop.password_token(&other, "ada", PASSWORD, "read write").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{body}");
    assert!(shop.shop.hooks.issued.lock().unwrap_or_else(PoisonError::into_inner).is_empty(), "nothing issued");

    let (status, body) = shop.password_token(&front, "ada", PASSWORD, "write").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // RFC 6750 §3.1: a valid token without the scope the route demands.
    let (status, challenge, _) = shop.orders(Some(body["access_token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read\""));
    let events = shop.shop.hooks.issued.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(events.iter().map(|e| e.grant.as_str()).collect::<Vec<_>>(), ["password"]);
}

/// Mounted under `/auth`, the provider's `/metrics` is `/auth/metrics`, and its route
/// labels are the full templates the host's router matched, prefix included; the
/// shop's own routes are the shop's to count.
#[tokio::test(flavor = "multi_thread")]
async fn the_mounted_providers_metrics_name_its_routes_with_the_prefix() {
    let shop = start().await;
    let app = shop.client("Metrics app", &[GrantType::ClientCredentials]).await;
    let (status, body) = shop.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    shop.orders(body["access_token"].as_str()).await;

    let response = shop.http.get(shop.url("/auth/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has(r#"http_requests_total{route="/auth/o/token/",method="POST",status="200"} 1"#), "{text}");
    assert!(has(r#"oauth_tokens_issued_total{grant="client_credentials"} 1"#), "{text}");
    assert!(!text.contains("/orders"), "{text}");
    assert!(!text.contains(&app.secret) && !text.contains(body["access_token"].as_str().unwrap()));
    let root = shop.http.get(shop.url("/metrics")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::NOT_FOUND, "nothing of the provider's outside its prefix");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_that_does_not_match_the_issuer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = portcullis::store::connect(&url).await.unwrap();
    let mut config = Config::defaults();
    config.oidc.issuer = "http://127.0.0.1:8080/o".into();
    let built = Provider::builder(config.clone(), Arc::clone(&store)).prefix("/auth").build().await;
    assert!(matches!(built, Err(BuildError::Issuer { .. })), "discovery would name the wrong endpoints");
    let mut slashed = config.clone();
    slashed.oidc.issuer = "http://127.0.0.1:8080/auth/o/".into();
    let built = Provider::builder(slashed, Arc::clone(&store)).prefix("/auth").build().await;
    assert!(matches!(built, Err(BuildError::Issuer { .. })), "iss is compared exactly: one form of the issuer");
    for bad in ["/auth/", "auth", "/a b", "/a//b", "/<x>"] {
        let built = Provider::builder(config.clone(), Arc::clone(&store)).prefix(bad).build().await;
        assert!(matches!(built, Err(BuildError::Prefix(_))), "{bad:?}");
    }
    let built = Provider::builder(config, store).build().await;
    assert!(built.is_ok(), "at the root, the issuer's /o matches");
}
