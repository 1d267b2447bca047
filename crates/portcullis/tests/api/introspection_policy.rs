//! Who may introspect what (RFC 7662 §4, `[oauth2] introspection_policy`), and the
//! application setting it reads, "resource server for these URIs", set through the
//! command line and the pages.

use portcullis::config::IntrospectionPolicy;
use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::applications::{logged_in, register, staff_logged_in};
use crate::helpers::{fresh_database, read, Backend, Client, Instance, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        any_client_introspects_every_token,
        audience_limits_each_client_to_its_tokens_and_its_resources,
        audience_answers_a_refused_token_as_an_unknown_one,
        audience_and_tokens_bound_to_no_resource,
        audience_and_refresh_tokens,
        resource_servers_registered_on_the_command_line,
        resource_servers_registered_on_the_pages,
    ]
}

const ORDERS: &str = "https://api.example/orders";
const BILLING: &str = "https://api.example/billing";

/// The callers of one case: the client a token is issued to, a resource server of
/// [`ORDERS`], one of [`BILLING`], a confidential client with no resource, and a bearer
/// token with scope `introspection`.
struct Callers {
    shop: Client,
    orders_api: Client,
    billing_api: Client,
    unrelated: Client,
    introspector: String,
}

impl Callers {
    async fn register(app: &TestApp) -> Self {
        let grants = [GrantType::Password, GrantType::ClientCredentials];
        let resource_server = |uri: &'static str| {
            app.client_with(ClientType::Confidential, &grants, None, move |r| {
                r.settings.resource_server_uris = vec![uri.to_owned()];
            })
        };
        let shop = app.confidential().await;
        let orders_api = resource_server(ORDERS).await;
        let billing_api = resource_server(BILLING).await;
        let unrelated = app.confidential().await;
        let bearer = app.token(&unrelated, &[("grant_type", "client_credentials"), ("scope", "introspection")]).await;
        let introspector = bearer.assert_token()["access_token"].as_str().unwrap().to_owned();
        Self { shop, orders_api, billing_api, unrelated, introspector }
    }

    /// Whether each caller, in the order of the fields, is told `token` is active; the
    /// answers are either the token's details or exactly `{"active": false}`.
    async fn verdicts(&self, app: &TestApp, token: &str) -> [bool; 5] {
        let mut verdicts = [false; 5];
        let clients = [&self.shop, &self.orders_api, &self.billing_api, &self.unrelated];
        for (verdict, caller) in verdicts.iter_mut().zip(clients) {
            *verdict = is_active(app.introspect(caller, token).await);
        }
        verdicts[4] = is_active(introspect_with_bearer(app, &self.introspector, token).await);
        verdicts
    }
}

#[track_caller]
fn is_active(answer: Value) -> bool {
    if answer == json!({"active": false}) {
        return false;
    }
    assert_eq!(answer["active"], true, "{answer}");
    true
}

async fn introspect_with_bearer(app: &TestApp, bearer: &str, token: &str) -> Value {
    let answer = read(
        app.http.post(app.url("/o/introspect/")).bearer_auth(bearer).form(&[("token", token)]).send().await.unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

/// A client-credentials access token for `client`, bound to `resources` (RFC 8707).
async fn token_for(app: &TestApp, client: &Client, resources: &[&str]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    app.token(client, &form).await.assert_token()["access_token"].as_str().unwrap().to_owned()
}

async fn spawn(backend: Backend, policy: IntrospectionPolicy) -> TestApp {
    TestApp::spawn_with(backend, |c| c.oauth2.introspection_policy = policy).await
}

/// The default keeps today's answer: any confidential client learns about any token.
async fn any_client_introspects_every_token(backend: Backend) {
    let app = spawn(backend, IntrospectionPolicy::AnyClient).await;
    let callers = Callers::register(&app).await;
    let token = token_for(&app, &callers.shop, &[ORDERS]).await;
    assert_eq!(callers.verdicts(&app, &token).await, [true; 5]);
    let answer = app.introspect(&callers.billing_api, &token).await;
    assert_eq!(answer["client_id"], callers.shop.client_id.as_str(), "the details, to anyone");
}

/// RFC 7662 §4: "the authorization server MUST determine whether or not the token can
/// be used at the protected resource making the introspection call".
async fn audience_limits_each_client_to_its_tokens_and_its_resources(backend: Backend) {
    let app = spawn(backend, IntrospectionPolicy::Audience).await;
    let callers = Callers::register(&app).await;
    // Its own client; the resource server of its audience; not the resource server of
    // another audience; not an unrelated client; a bearer token with scope
    // `introspection`, always.
    let orders = token_for(&app, &callers.shop, &[ORDERS]).await;
    assert_eq!(callers.verdicts(&app, &orders).await, [true, true, false, false, true]);
    let answer = app.introspect(&callers.orders_api, &orders).await;
    assert_eq!(
        (answer["client_id"].as_str(), answer["scope"].as_str()),
        (Some(&*callers.shop.client_id), Some("read"))
    );
    // A token for both resources is for either resource server.
    let both = token_for(&app, &callers.shop, &[ORDERS, BILLING]).await;
    assert_eq!(callers.verdicts(&app, &both).await, [true, true, true, false, true]);
    // A resource server's own tokens are its own, whatever their audience.
    let billing_own = token_for(&app, &callers.billing_api, &[ORDERS]).await;
    assert_eq!(callers.verdicts(&app, &billing_own).await, [false, true, true, false, true]);
}

/// RFC 7662 §2.2: "If the introspection call is properly authorized but the token is
/// not active, does not exist on this server, or the protected resource is not allowed
/// to introspect this particular token, then the authorization server MUST return an
/// introspection response with the "active" field set to "false"." The answer is the
/// one an unknown token gets, byte for byte, so it tells a scanner nothing.
async fn audience_answers_a_refused_token_as_an_unknown_one(backend: Backend) {
    let app = spawn(backend, IntrospectionPolicy::Audience).await;
    let callers = Callers::register(&app).await;
    let token = token_for(&app, &callers.shop, &[ORDERS]).await;
    let billing_api = Some(&callers.billing_api);
    let refused = app.post_form("/o/introspect/", billing_api, &[("token", &token)]).await;
    let unknown = app.post_form("/o/introspect/", billing_api, &[("token", "never-issued")]).await;
    assert_eq!((refused.status, unknown.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(refused.text, unknown.text);
    assert_eq!(refused.json(), json!({"active": false}));
    for header in ["cache-control", "content-type"] {
        assert_eq!(refused.header(header), unknown.header(header), "{header}");
    }
    // Refused, the token is untouched: its resource server still sees it.
    assert!(is_active(app.introspect(&callers.orders_api, &token).await));
}

/// A token bound to no resource can be used at any of them, so no resource server is
/// "the" one it is for: only its client, and bearer introspectors, learn about it.
async fn audience_and_tokens_bound_to_no_resource(backend: Backend) {
    let app = spawn(backend, IntrospectionPolicy::Audience).await;
    let callers = Callers::register(&app).await;
    let unbound = token_for(&app, &callers.shop, &[]).await;
    assert_eq!(callers.verdicts(&app, &unbound).await, [true, false, false, false, true]);
    app.user("alice").await;
    let alice = app.password_token(&callers.shop, "alice", Some("read")).await;
    let alice = alice["access_token"].as_str().unwrap();
    assert_eq!(callers.verdicts(&app, alice).await, [true, false, false, false, true]);
}

/// The endpoint introspects access tokens only: a refresh token, even one bound to a
/// resource, is unknown to it, and so inactive to every caller, its own client's
/// resource servers included, under either policy.
async fn audience_and_refresh_tokens(backend: Backend) {
    for policy in [IntrospectionPolicy::Audience, IntrospectionPolicy::AnyClient] {
        let app = spawn(backend, policy).await;
        let callers = Callers::register(&app).await;
        app.user("alice").await;
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", crate::helpers::PASSWORD),
            ("resource", ORDERS),
        ];
        let tokens = app.token(&callers.shop, &form).await.assert_token();
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
        assert_eq!(callers.verdicts(&app, refresh).await, [false; 5], "{policy:?}");
        assert!(callers.verdicts(&app, access).await[1], "{policy:?}: the access token is for the orders API");
    }
}

/// `app create --resource-server-uri`, shown by `app list --json`, changed by `app
/// update`, read by a running server under `PORTCULLIS_INTROSPECTION_POLICY=audience`.
async fn resource_servers_registered_on_the_command_line(backend: Backend) {
    let (_, db) = fresh_database(backend).await;
    let create = |name: &'static str, extra: &'static [&'static str]| {
        let mut args = vec!["app", "create", "--name", name, "--client-type", "confidential"];
        args.extend(["--grant-type", "client-credentials", "--json"]);
        args.extend(extra);
        let db = &db;
        async move {
            let run = crate::cli::run(db, &args, None, &[]).await;
            run.assert_ok();
            let app: Value = serde_json::from_str(&run.stdout).unwrap();
            Client {
                client_id: app["client_id"].as_str().unwrap().to_owned(),
                secret: app["client_secret"].as_str().map(str::to_owned),
            }
        }
    };
    let shop = create("Shop", &[]).await;
    let orders_api = create("Orders API", &["--resource-server-uri", ORDERS, "--resource-server-uri", BILLING]).await;
    let billing_api = create("Billing API", &["--resource-server-uri", BILLING]).await;

    // RFC 8707 §2: "The value of the resource parameter MUST be an absolute URI ... MUST
    // NOT include a fragment component."
    for (uri, why) in [("https://api.example/orders#v2", "fragment"), ("/orders", "absolute URI")] {
        let args = ["app", "create", "--name", "Bad", "--client-type", "confidential", "--grant-type", "password"];
        let refused = crate::cli::run(&db, &[&args[..], &["--resource-server-uri", uri]].concat(), None, &[]).await;
        refused.assert_fails_with(why);
        assert!(refused.stderr.contains("--resource-server-uri: "), "{}", refused.stderr);
        crate::cli::run(&db, &["app", "update", &shop.client_id, "--resource-server-uri", uri], None, &[])
            .await
            .assert_fails_with(why);
    }
    let public = ["app", "create", "--name", "SPA", "--client-type", "public", "--grant-type", "device-code"];
    crate::cli::run(&db, &[&public[..], &["--resource-server-uri", ORDERS]].concat(), None, &[])
        .await
        .assert_fails_with("only a confidential client");
    crate::cli::run(&db, &["app", "update", "no-such-client", "--resource-server-uri", ORDERS], None, &[])
        .await
        .assert_fails_with("no application");
    let nothing = crate::cli::run(&db, &["app", "update", &shop.client_id], None, &[]).await;
    assert_ne!(nothing.code, Some(0), "nothing to change");
    assert!(nothing.stderr.contains("--resource-server-uri"), "{}", nothing.stderr);

    let listed = crate::cli::run(&db, &["app", "list", "--json"], None, &[]).await;
    listed.assert_ok();
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let uris: Vec<&Value> = listed.as_array().unwrap().iter().map(|a| &a["resource_server_uris"]).collect();
    assert_eq!(uris, [&json!([]), &json!([ORDERS, BILLING]), &json!([BILLING])], "the refused ones wrote nothing");

    let server = Instance::start(&db.url, &[("PORTCULLIS_INTROSPECTION_POLICY", "audience")]).await;
    let http = reqwest::Client::new();
    let token = read(
        http.post(server.url("/o/token/"))
            .basic_auth(&shop.client_id, shop.secret.as_deref())
            .form(&[("grant_type", "client_credentials"), ("resource", ORDERS)])
            .send()
            .await
            .unwrap(),
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let active = |caller: &Client| {
        let request = http
            .post(server.url("/o/introspect/"))
            .basic_auth(&caller.client_id, caller.secret.as_deref())
            .form(&[("token", token.as_str())]);
        async move { is_active(read(request.send().await.unwrap()).await.json()) }
    };
    assert!(active(&orders_api).await);
    assert!(!active(&billing_api).await);

    let updated = crate::cli::run(
        &db,
        &["app", "update", &billing_api.client_id, "--resource-server-uri", ORDERS, "--json"],
        None,
        &[],
    )
    .await;
    updated.assert_ok();
    assert_eq!(serde_json::from_str::<Value>(&updated.stdout).unwrap()["resource_server_uris"], json!([ORDERS]));
    let removed =
        crate::cli::run(&db, &["app", "update", &orders_api.client_id, "--no-resource-server-uris"], None, &[]).await;
    removed.assert_ok();
    assert!(removed.stdout.contains("resource server for: none"), "{}", removed.stdout);
    // The server reads the change once its cached copy of each application ages out.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while active(&orders_api).await || !active(&billing_api).await {
        assert!(tokio::time::Instant::now() < deadline, "the server never saw the change");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Staff set the URIs on the admin pages and on the application pages; a bad URI is a
/// form error and stores nothing; an ordinary owner cannot claim a resource.
async fn resource_servers_registered_on_the_pages(backend: Backend) {
    let app = spawn(backend, IntrospectionPolicy::Audience).await;
    let shop = app.confidential().await;
    let token = token_for(&app, &shop, &[ORDERS]).await;
    let staff = staff_logged_in(&app, "admin").await;

    // The application pages, as staff: registered as the orders API's resource server.
    let fields = [
        ("name", "Orders API"),
        ("client_type", "confidential"),
        ("grant_type", "client-credentials"),
        ("algorithm", "RS256"),
        ("resource_server_uris", "https://api.example/orders\r\n\r\n"),
    ];
    let (orders_app, orders_api) = register(&app, &staff, &fields).await;
    assert_eq!(orders_app.settings.resource_server_uris, [ORDERS]);
    assert!(is_active(app.introspect(&orders_api, &token).await));

    // The admin pages: another application made the resource server of both.
    let billing_api = app.confidential().await;
    let billing = app.store.application_by_client_id(&billing_api.client_id).await.unwrap().unwrap();
    let page = format!("/admin/applications/{}/", billing.id);
    let update = format!("/admin/applications/{}/update/", billing.id);
    assert!(!is_active(app.introspect(&billing_api, &token).await));
    let edit = |uris: &'static str| {
        let fields = [("name", "Billing API"), ("grant_type", "client-credentials"), ("resource_server_uris", uris)];
        let (staff, page, update) = (&staff, &page, &update);
        async move { staff.submit(page, update, &fields).await }
    };
    // RFC 8707 §2: "MUST NOT include a fragment component."
    let refused = edit("https://api.example/billing\nhttps://api.example/orders#v2").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("id=\"resource_server_uris-error\""), "{}", refused.text);
    assert!(refused.text.contains("must not contain a fragment (RFC 8707 §2)"), "{}", refused.text);
    assert_eq!(app.store.application_by_id(billing.id).await.unwrap().unwrap(), billing, "nothing stored");
    let relative = edit("/orders").await;
    assert_eq!(relative.status, StatusCode::BAD_REQUEST);
    assert!(relative.text.contains("is not an absolute URI"), "{}", relative.text);
    let saved = edit("https://api.example/billing\nhttps://api.example/orders").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let after = app.store.application_by_id(billing.id).await.unwrap().unwrap();
    assert_eq!(after.settings.resource_server_uris, [BILLING, ORDERS]);
    assert!(is_active(app.introspect(&billing_api, &token).await));
    let shown = staff.get(&page).await.text.replace("&#x2f;", "/");
    assert!(shown.contains("<code>https://api.example/orders</code>"), "the detail lists them");

    // An ordinary user registering an application cannot make it a resource server:
    // it would read every token for that API.
    let alice = logged_in(&app, "alice").await;
    let form = alice.get("/o/applications/register/").await;
    assert!(!form.text.contains("name=\"resource_server_uris\""), "not offered to them");
    let claim = [
        ("name", "Curious"),
        ("client_type", "confidential"),
        ("grant_type", "authorization-code"),
        ("redirect_uris", "https://curious.example/cb"),
        ("resource_server_uris", ORDERS),
    ];
    let refused = alice.submit("/o/applications/register/", "/o/applications/register/", &claim).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("Only staff can make an application the resource server for"), "{}", refused.text);
    assert_eq!(app.store.list_applications().await.unwrap().len(), 3, "nothing registered");

    // An owner keeps what staff registered when saving other changes, and may give it up.
    let (own, own_client) = register(&app, &alice, &claim[..4]).await;
    let mut given = own.settings.clone();
    given.resource_server_uris = vec![ORDERS.to_owned()];
    app.store.update_application(own.id, &given, app.clock_now()).await.unwrap();
    let edit = format!("/o/applications/{}/update/", own.id);
    let form = alice.get(&edit).await.text.replace("&#x2f;", "/");
    assert!(form.contains("name=\"resource_server_uris\""), "shown while it has some");
    assert!(form.contains(">https://api.example/orders</textarea>"), "{form}");
    let mut renamed = claim.to_vec();
    renamed[0] = ("name", "Curious, renamed");
    let saved = alice.submit(&edit, &edit, &renamed).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let kept = app.store.application_by_id(own.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.settings.name.as_str(), &kept.settings.resource_server_uris[..]),
        ("Curious, renamed", &[ORDERS.to_owned()][..])
    );
    assert!(is_active(app.introspect(&own_client, &token).await));
    let another = [("resource_server_uris", "https://api.example/orders\nhttps://api.example/billing")];
    let refused = alice.submit(&edit, &edit, &[&claim[..4], &another[..]].concat()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(app.store.application_by_id(own.id).await.unwrap().unwrap(), kept, "nothing stored");
    let given_up = alice.submit(&edit, &edit, &claim[..4]).await;
    assert_eq!(given_up.status, StatusCode::SEE_OTHER, "{}", given_up.text);
    assert!(app.store.application_by_id(own.id).await.unwrap().unwrap().settings.resource_server_uris.is_empty());
    assert!(!is_active(app.introspect(&own_client, &token).await));
}
