//! Where a host application changes what the provider decides, as django-oauth-toolkit's
//! users subclass its `OAuth2Validator`: extra claims in what Portcullis signs or
//! answers about a user, a scope policy per application, and an event for each token
//! issued. Every method has a default that changes nothing, so a host implements only
//! the ones it needs.
//!
//! ```
//! use async_trait::async_trait;
//! use portcullis::hooks::{ClaimsFor, Hooks, TokenIssued};
//! use portcullis::store::{Application, StoreError};
//! use portcullis_axum::ScopeSet;
//! use serde_json::{json, Map, Value};
//!
//! struct Shop;
//!
//! #[async_trait]
//! impl Hooks for Shop {
//!     async fn extra_claims(&self, request: ClaimsFor<'_>) -> Result<Map<String, Value>, StoreError> {
//!         let mut claims = Map::new();
//!         if request.scope.contains("profile") {
//!             claims.insert("loyalty_tier".into(), json!("gold"));
//!         }
//!         Ok(claims)
//!     }
//!
//!     fn allows_scope(&self, app: &Application, scope: &ScopeSet) -> bool {
//!         // Only the shop's own front end may write.
//!         !scope.contains("write") || app.settings.name == "Shop front"
//!     }
//!
//!     async fn token_issued(&self, event: &TokenIssued) {
//!         tracing::info!(client_id = %event.client_id, grant = %event.grant, "token issued");
//!     }
//! }
//! ```

use async_trait::async_trait;
use portcullis_axum::ScopeSet;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::proto::TokenGrant;
use crate::store::{Application, StoreError};

/// The host's hooks. See the module documentation; here a provider with hooks that
/// keep `write` for the shop's front end and record every token issued:
///
/// ```
/// use std::sync::{Arc, Mutex, PoisonError};
///
/// use async_trait::async_trait;
/// use http::StatusCode;
/// use portcullis::config::Config;
/// use portcullis::hooks::{Hooks, TokenIssued};
/// use portcullis::proto::{GrantType, TokenGrant};
/// use portcullis::provider::Provider;
/// use portcullis::store::Application;
/// use portcullis_axum::ScopeSet;
///
/// #[derive(Default)]
/// struct Shop {
///     issued: Mutex<Vec<TokenIssued>>,
/// }
///
/// #[async_trait]
/// impl Hooks for Shop {
///     fn allows_scope(&self, app: &Application, scope: &ScopeSet) -> bool {
///         !scope.contains("write") || app.settings.name == "Shop front"
///     }
///
///     async fn token_issued(&self, event: &TokenIssued) {
///         self.issued.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
///     }
/// }
///
/// # async fn token_request(
/// #     app: &axum::Router,
/// #     client: &(String, portcullis::crypto::Secret),
/// #     form: &str,
/// # ) -> Result<(http::StatusCode, serde_json::Value), Box<dyn std::error::Error>> {
/// #     use base64::Engine as _;
/// #     use tower::ServiceExt as _;
/// #     let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.0, client.1.expose()));
/// #     let request = http::Request::post("/o/token/")
/// #         .header("authorization", format!("Basic {basic}"))
/// #         .header("content-type", "application/x-www-form-urlencoded")
/// #         .body(axum::body::Body::from(form.to_owned()))?;
/// #     let response = app.clone().oneshot(request).await?;
/// #     let status = response.status();
/// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
/// #     Ok((status, serde_json::from_slice(&body)?))
/// # }
/// # async fn register(
/// #     store: &dyn portcullis::store::Store,
/// #     name: &str,
/// #     grant: portcullis::proto::GrantType,
/// # ) -> Result<(String, portcullis::crypto::Secret), Box<dyn std::error::Error>> {
/// #     use portcullis::store::ApplicationSettings;
/// #     let secret = portcullis::crypto::Secret::generate();
/// #     let settings = ApplicationSettings {
/// #         name: name.into(),
/// #         grant_types: vec![grant],
/// #         ..ApplicationSettings::default()
/// #     };
/// #     let client_id = portcullis::crypto::random_alphanumeric(32);
/// #     let hash = secret.hash();
/// #     store.create_application(&client_id, Some(&hash), None, &settings, 1_700_000_000).await?;
/// #     Ok((client_id, secret))
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let mut config = Config::defaults();
/// config.oidc.enabled = false; // no signing keys to make for this example
/// let store = portcullis::store::connect(&url).await?;
/// let shop = Arc::new(Shop::default());
/// let provider = Provider::builder(config, store.clone()).hooks(shop.clone()).build().await?;
/// let app = provider.router();
///
/// // `register` and `token_request` (hidden) register a confidential client and ask
/// // the token endpoint, authenticating with HTTP Basic.
/// let back_office = register(store.as_ref(), "Back office", GrantType::ClientCredentials).await?;
/// let (status, _) = token_request(&app, &back_office, "grant_type=client_credentials&scope=read").await?;
/// assert_eq!(status, StatusCode::OK);
/// let (status, answer) = token_request(&app, &back_office, "grant_type=client_credentials&scope=read+write").await?;
/// assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
///
/// // One token issued, and the hook heard of it (without its value).
/// let issued = shop.issued.lock().unwrap_or_else(PoisonError::into_inner).clone();
/// assert_eq!(issued.len(), 1);
/// assert_eq!((issued[0].client_id.as_str(), issued[0].grant), (back_office.0.as_str(), TokenGrant::ClientCredentials));
/// assert!(issued[0].user_id.is_none() && !issued[0].refresh_token);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Claims to add to what [`ClaimsFor::target`] names. Claims Portcullis sets itself
    /// (`iss`, `sub`, `aud`, `exp`, `scope`, the profile claims, …) always win: a hook
    /// cannot change who a token is for or how long it lives. An error stops the token
    /// or answer from being issued (`503`).
    async fn extra_claims(&self, request: ClaimsFor<'_>) -> Result<Map<String, Value>, StoreError> {
        let _ = request;
        Ok(Map::new())
    }

    /// Whether `app` may be granted `scope`, after the settings and the application's
    /// own allowed scopes have agreed. `false` refuses the request with
    /// `invalid_scope` (RFC 6749 §5.2, §4.1.2.1), at the authorization endpoint, the
    /// token endpoint (password, client credentials and refresh) and the device
    /// endpoint. At a refresh it is asked about the scope left of the grant after the
    /// settings and the application's allowed scopes of today.
    ///
    /// It runs inside request validation and must decide from what it has at hand.
    fn allows_scope(&self, app: &Application, scope: &ScopeSet) -> bool {
        let _ = (app, scope);
        true
    }

    /// Called once a token has been stored, before the client receives it, for every
    /// grant and the implicit flow. It sees no token value. The client waits for it, so
    /// a slow task belongs on a queue or a spawned task.
    async fn token_issued(&self, event: &TokenIssued) {
        let _ = event;
    }
}

/// The hooks of a provider that has none.
///
/// ```
/// use portcullis::hooks::{ClaimsFor, ClaimsTarget, Hooks, NoHooks};
/// use portcullis_axum::ScopeSet;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), portcullis::store::StoreError> {
/// # let app = portcullis::store::Application {
/// #     id: 1,
/// #     client_id: "shop-front".into(),
/// #     client_secret_hash: None,
/// #     settings: portcullis::store::ApplicationSettings {
/// #         name: "Shop front".into(),
/// #         client_type: portcullis::proto::ClientType::Public,
/// #         grant_types: vec![portcullis::proto::GrantType::AuthorizationCode],
/// #         redirect_uris: vec!["https://shop.example/callback".into()],
/// #         ..Default::default()
/// #     },
/// #     owner_id: None,
/// #     created_at: 1_700_000_000,
/// #     updated_at: 1_700_000_000,
/// # };
/// // `app` is a registered application (hidden).
/// let scope = ScopeSet::from_tokens(["openid", "write"]);
/// assert!(NoHooks.allows_scope(&app, &scope));
/// let request = ClaimsFor { target: ClaimsTarget::IdToken, app: &app, user_id: Some(7), scope: &scope };
/// assert!(NoHooks.extra_claims(request).await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct NoHooks;

impl Hooks for NoHooks {}

/// What extra claims are asked for.
///
/// A hook can be tried out on its own, as here, before it goes into a provider:
///
/// ```
/// use async_trait::async_trait;
/// use portcullis::hooks::{ClaimsFor, ClaimsTarget, Hooks};
/// use portcullis::store::StoreError;
/// use portcullis_axum::ScopeSet;
/// use serde_json::{json, Map, Value};
///
/// /// Says since when a user is a customer, in ID tokens and UserInfo.
/// struct CustomerSince;
///
/// #[async_trait]
/// impl Hooks for CustomerSince {
///     async fn extra_claims(&self, request: ClaimsFor<'_>) -> Result<Map<String, Value>, StoreError> {
///         let mut claims = Map::new();
///         let about_the_user = matches!(request.target, ClaimsTarget::IdToken | ClaimsTarget::UserInfo);
///         if let (true, Some(user)) = (about_the_user && request.scope.contains("profile"), request.user_id) {
///             // A real host looks the user up in its own database.
///             claims.insert("customer_since".into(), json!(2000 + user));
///         }
///         Ok(claims)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// # let app = portcullis::store::Application {
/// #     id: 1,
/// #     client_id: "shop-front".into(),
/// #     client_secret_hash: None,
/// #     settings: portcullis::store::ApplicationSettings {
/// #         name: "Shop front".into(),
/// #         client_type: portcullis::proto::ClientType::Public,
/// #         grant_types: vec![portcullis::proto::GrantType::AuthorizationCode],
/// #         redirect_uris: vec!["https://shop.example/callback".into()],
/// #         ..Default::default()
/// #     },
/// #     owner_id: None,
/// #     created_at: 1_700_000_000,
/// #     updated_at: 1_700_000_000,
/// # };
/// // `app` is a registered application (hidden).
/// let scope = ScopeSet::from_tokens(["openid", "profile"]);
/// let ask = |target| ClaimsFor { target, app: &app, user_id: Some(7), scope: &scope };
/// let claims = CustomerSince.extra_claims(ask(ClaimsTarget::IdToken)).await?;
/// assert_eq!(claims.get("customer_since"), Some(&json!(2007)));
/// assert!(CustomerSince.extra_claims(ask(ClaimsTarget::AccessToken)).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClaimsFor<'a> {
    /// Where the claims go.
    pub target: ClaimsTarget,
    /// The application the token or answer is for.
    pub app: &'a Application,
    /// The user the claims describe; `None` for a client's own JWT access token.
    pub user_id: Option<i64>,
    /// The scope granted.
    pub scope: &'a ScopeSet,
}

/// Where the claims go. A hook may keep claims out of access tokens, which anyone
/// holding one can read:
///
/// ```
/// use portcullis::hooks::ClaimsTarget;
///
/// /// Whether a claim about the user's address may go there.
/// fn may_carry_address(target: ClaimsTarget) -> bool {
///     // JWT access tokens travel to every API the client calls.
///     target != ClaimsTarget::AccessToken
/// }
///
/// assert!(may_carry_address(ClaimsTarget::UserInfo));
/// assert!(!may_carry_address(ClaimsTarget::AccessToken));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsTarget {
    /// An OpenID Connect ID token.
    IdToken,
    /// A UserInfo answer.
    UserInfo,
    /// A JWT access token (RFC 9068), for applications that chose them.
    AccessToken,
}

/// A token was issued. Carries no token value.
///
/// A host's own handling can be tried on one made by hand:
///
/// ```
/// use portcullis::hooks::TokenIssued;
/// use portcullis::proto::TokenGrant;
///
/// /// The line a host writes to its audit log.
/// fn audit_line(event: &TokenIssued) -> String {
///     let who = event.user_id.map_or("no user".to_owned(), |id| format!("user {id}"));
///     format!("{} got [{}] for {who} by {}", event.client_id, event.scope, event.grant)
/// }
///
/// let event = TokenIssued {
///     client_id: "shop-front".into(),
///     user_id: Some(7),
///     scope: "openid read".into(),
///     grant: TokenGrant::AuthorizationCode,
///     expires_at: 1_700_036_000,
///     refresh_token: true,
/// };
/// assert_eq!(audit_line(&event), "shop-front got [openid read] for user 7 by authorization_code");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssued {
    /// The client the token was issued to.
    pub client_id: String,
    /// The user it acts for; `None` for a client's own token.
    pub user_id: Option<i64>,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The grant that issued it; `implicit` for a token from the authorization
    /// endpoint.
    pub grant: TokenGrant,
    /// When the access token expires, seconds since the Unix epoch.
    pub expires_at: i64,
    /// Whether a refresh token came with it.
    pub refresh_token: bool,
}

/// `claims` serialised, with `extra` added where `claims` has no member of that name.
pub(crate) fn with_extra(claims: &impl Serialize, extra: Map<String, Value>) -> Result<Value, StoreError> {
    let mut value = serde_json::to_value(claims).map_err(|e| StoreError::Corrupt(format!("claims: {e}")))?;
    if let Value::Object(map) = &mut value {
        for (name, claim) in extra {
            map.entry(name).or_insert(claim);
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extra_claims_never_replace_the_servers_own() {
        let mut extra = Map::new();
        extra.insert("sub".into(), json!("someone else"));
        extra.insert("tier".into(), json!("gold"));
        let merged = with_extra(&json!({"sub": "7", "exp": 10}), extra).unwrap_or_default();
        assert_eq!(merged, json!({"sub": "7", "exp": 10, "tier": "gold"}));
    }
}
