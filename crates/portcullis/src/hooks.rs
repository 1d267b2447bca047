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
//!         !scope.contains("write") || app.name == "Shop front"
//!     }
//!
//!     async fn token_issued(&self, event: &TokenIssued) {
//!         tracing::info!(client_id = %event.client_id, grant = event.grant, "token issued");
//!     }
//! }
//! ```

use async_trait::async_trait;
use portcullis_axum::ScopeSet;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::store::{Application, StoreError};

/// The host's hooks. See the module documentation.
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
    /// token endpoint (password and client credentials) and the device endpoint. A
    /// refresh can only narrow what was granted, so it is not asked again.
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
pub struct NoHooks;

impl Hooks for NoHooks {}

/// What extra claims are asked for.
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

/// Where the claims go.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssued {
    /// The client the token was issued to.
    pub client_id: String,
    /// The user it acts for; `None` for a client's own token.
    pub user_id: Option<i64>,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The grant: `authorization_code`, `password`, `client_credentials`,
    /// `refresh_token`, `urn:ietf:params:oauth:grant-type:device_code` or `implicit`.
    pub grant: &'static str,
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
