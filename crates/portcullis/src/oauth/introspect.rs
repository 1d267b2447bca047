use portcullis_axum::error::{AuthError, AuthErrorKind};
use portcullis_axum::wire::Introspection;
use portcullis_axum::TokenVerifier;

use super::client_auth::{self, Authorization};
use super::{EndpointError, OAuthError, Params};
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

/// RFC 7662 §2.1: "To prevent token scanning attacks, the endpoint MUST also require
/// some form of authorization to access this endpoint". Callers are confidential
/// clients (HTTP Basic or body credentials) or holders of a bearer token with scope
/// `introspection`.
pub async fn authorize_caller(
    store: &dyn Store,
    verifier: &TokenVerifier,
    authorization: Authorization,
    params: &Params,
) -> Result<(), CallerRejected> {
    if let Authorization::Bearer(token) = &authorization {
        let realm = verifier.realm();
        return match verifier.verify(token).await {
            Ok(Some(info)) if info.scope.contains(INTROSPECTION_SCOPE) => Ok(()),
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
    Ok(())
}

/// The answer for `token`: its details while it is valid, `{"active": false}` for
/// anything else (RFC 7662 §2.2).
pub async fn introspect(verifier: &TokenVerifier, params: &Params) -> Result<Introspection, EndpointError> {
    let token = params.require("token")?;
    match verifier.verify(token).await {
        Ok(Some(info)) => Ok(Introspection::active(&info)),
        Ok(None) => Ok(Introspection::inactive()),
        Err(e) => Err(EndpointError::Store(crate::store::StoreError::Unavailable(e.0))),
    }
}
