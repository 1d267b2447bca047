use portcullis_axum::error::{AuthError, AuthErrorKind};
use portcullis_axum::wire::Introspection;
use portcullis_axum::TokenVerifier;

use super::client_auth::{self, Authorization};
use super::{EndpointError, OAuthError, Params};
use crate::config::IntrospectionPolicy;
use crate::proto::ClientType;
use crate::store::Store;

/// The scope a bearer token needs to call the introspection endpoint.
pub const INTROSPECTION_SCOPE: &str = "introspection";

/// Why a caller may not introspect.
#[derive(Debug)]
pub enum CallerRejected {
    Client(EndpointError),
    Bearer(AuthError),
}

/// Who calls the introspection endpoint, once [`authorize_caller`] has let them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A confidential client, authenticated with its credentials.
    Client {
        /// Its client id.
        client_id: String,
        /// The resources it is the resource server for (its application setting).
        resource_server_uris: Vec<String>,
    },
    /// The holder of a bearer token with scope [`INTROSPECTION_SCOPE`].
    Bearer,
}

/// RFC 7662 §2.1: "To prevent token scanning attacks, the endpoint MUST also require
/// some form of authorization to access this endpoint". Callers are confidential
/// clients (HTTP Basic or body credentials) or holders of a bearer token with scope
/// `introspection`.
pub async fn authorize_caller(
    store: &dyn Store,
    verifier: &TokenVerifier,
    authorization: Authorization,
    params: &Params,
) -> Result<Caller, CallerRejected> {
    if let Authorization::Bearer(token) = &authorization {
        let realm = verifier.realm();
        return match verifier.verify(token).await {
            Ok(Some(info)) if info.scope.contains(INTROSPECTION_SCOPE) => Ok(Caller::Bearer),
            Ok(Some(_)) => Err(CallerRejected::Bearer(AuthError::new(
                AuthErrorKind::InsufficientScope(INTROSPECTION_SCOPE.into()),
                realm,
            ))),
            Ok(None) => Err(CallerRejected::Bearer(AuthError::new(AuthErrorKind::InvalidToken, realm))),
            Err(_) => Err(CallerRejected::Bearer(AuthError::new(AuthErrorKind::Unavailable, realm))),
        };
    }
    let credentials = client_auth::credentials(authorization, params).map_err(|e| CallerRejected::Client(e.into()))?;
    let basic = credentials.as_ref().is_none_or(client_auth::ClientCredentials::basic);
    let app =
        client_auth::authenticate(store, credentials.as_ref()).await.map_err(|e| CallerRejected::Client(e.into()))?;
    if app.settings.client_type != ClientType::Confidential {
        return Err(CallerRejected::Client(OAuthError::invalid_client(basic).into()));
    }
    Ok(Caller::Client { client_id: app.client_id, resource_server_uris: app.settings.resource_server_uris })
}

/// Whether `caller` may learn about a token issued to `token_client` and bound to
/// `token_audience` (RFC 8707 resource URIs; empty: bound to none), under `policy`.
///
/// Under [`IntrospectionPolicy::Audience`], RFC 7662 §4: "the authorization server MUST
/// determine whether or not the token can be used at the protected resource making the
/// introspection call". A resource server may, for the tokens whose audience names a
/// resource it is registered for (compared exactly, as the audience is everywhere); the
/// client the token was issued to may, for its own; a bearer token with scope
/// `introspection` was given for introspecting and may, for any.
pub fn may_introspect(
    policy: IntrospectionPolicy,
    caller: &Caller,
    token_client: &str,
    token_audience: &[String],
) -> bool {
    match (policy, caller) {
        (IntrospectionPolicy::AnyClient, _) | (_, Caller::Bearer) => true,
        (IntrospectionPolicy::Audience, Caller::Client { client_id, resource_server_uris }) => {
            client_id == token_client || token_audience.iter().any(|aud| resource_server_uris.contains(aud))
        }
    }
}

/// The answer for `token`: its details while it is valid and `caller` may see them
/// ([`may_introspect`]), `{"active": false}` for anything else (RFC 7662 §2.2). A token
/// the caller may not see gets the same answer as one that does not exist, so that
/// asking tells nothing, not even that it is valid.
///
/// Only access tokens are introspected: a refresh token matches none, and is inactive
/// to every caller.
pub async fn introspect(
    verifier: &TokenVerifier,
    policy: IntrospectionPolicy,
    caller: &Caller,
    params: &Params,
) -> Result<Introspection, EndpointError> {
    let token = params.require("token")?;
    let info = match verifier.verify(token).await {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(Introspection::inactive()),
        Err(e) => return Err(EndpointError::Store(crate::store::StoreError::Unavailable(e.0))),
    };
    if may_introspect(policy, caller, &info.client_id, &info.audience) {
        Ok(Introspection::active(&info))
    } else {
        if let Caller::Client { client_id, .. } = caller {
            tracing::debug!(caller = %client_id, "introspection: the token is neither the caller's nor for its resources");
        }
        Ok(Introspection::inactive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "https://api.example/orders";
    const BILLING: &str = "https://api.example/billing";

    fn client(id: &str, resources: &[&str]) -> Caller {
        Caller::Client {
            client_id: id.to_owned(),
            resource_server_uris: resources.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    fn audience(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|u| (*u).to_owned()).collect()
    }

    /// What each caller learns of a token that `shop` got for the orders API.
    fn verdicts(policy: IntrospectionPolicy) -> [bool; 6] {
        let token = ("shop", audience(&[ORDERS]));
        let may = |caller: &Caller| may_introspect(policy, caller, token.0, &token.1);
        [
            may(&client("shop", &[])),
            may(&client("orders-api", &[ORDERS])),
            may(&client("both-apis", &[BILLING, ORDERS])),
            may(&client("billing-api", &[BILLING])),
            may(&client("unrelated", &[])),
            may(&Caller::Bearer),
        ]
    }

    #[test]
    fn any_client_sees_every_token() {
        assert_eq!(verdicts(IntrospectionPolicy::AnyClient), [true; 6]);
    }

    /// RFC 7662 §4: "the authorization server MUST determine whether or not the token
    /// can be used at the protected resource making the introspection call."
    #[test]
    fn audience_limits_clients_to_their_own_tokens_and_their_resources() {
        assert_eq!(verdicts(IntrospectionPolicy::Audience), [true, true, true, false, false, true]);
    }

    #[test]
    fn audiences_match_exactly() {
        let audience_policy = IntrospectionPolicy::Audience;
        let orders_api = client("orders-api", &[ORDERS]);
        for near in ["https://api.example/orders/", "https://API.example/orders", "https://api.example/order"] {
            assert!(!may_introspect(audience_policy, &orders_api, "shop", &audience(&[near])), "{near}");
        }
        // One of several resources is enough.
        assert!(may_introspect(audience_policy, &orders_api, "shop", &audience(&[BILLING, ORDERS])));
    }

    #[test]
    fn a_token_bound_to_no_resource_is_only_its_clients() {
        let none = Vec::new();
        let audience_policy = IntrospectionPolicy::Audience;
        assert!(may_introspect(audience_policy, &client("shop", &[]), "shop", &none));
        assert!(!may_introspect(audience_policy, &client("orders-api", &[ORDERS]), "shop", &none));
        assert!(may_introspect(audience_policy, &Caller::Bearer, "shop", &none));
    }
}
