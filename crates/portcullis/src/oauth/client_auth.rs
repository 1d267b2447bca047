//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded `client_id:client_secret`, or
//! `client_id` and `client_secret` in the body; a public client sends `client_id` alone.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::{OAuthError, Params};
use crate::crypto::Secret;
use crate::proto::{ClientAuthMethod, ClientType};
use crate::store::{Application, Store};

/// The credentials a request presents, not yet checked.
#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<Secret>,
    /// How they came: HTTP Basic (with a secret or, for a public client, without), or
    /// the body with a secret or without one.
    pub method: ClientAuthMethod,
}

impl ClientCredentials {
    /// Whether they came in the `Authorization` header, which makes `invalid_client` a
    /// `401` with a challenge (RFC 6749 §5.2).
    pub fn basic(&self) -> bool {
        self.method == ClientAuthMethod::ClientSecretBasic
    }
}

/// What the `Authorization` header carries, if anything.
#[derive(Debug)]
pub enum Authorization {
    None,
    Basic(ClientCredentials),
    /// A bearer token (only the introspection endpoint accepts one).
    Bearer(String),
}

/// Reads the `Authorization` header. A header that is present but cannot be parsed is
/// `invalid_request`; a scheme other than Basic or Bearer is `invalid_client` (the
/// client tried to authenticate with a method the server does not support).
pub fn authorization_header(headers: &HeaderMap) -> Result<Authorization, OAuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Authorization::None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest).map(Authorization::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Ok(Authorization::Bearer(rest.to_owned()))
    } else {
        Err(OAuthError::invalid_client(true))
    }
}

/// RFC 6749 §2.3.1: "The client identifier is encoded using the
/// "application/x-www-form-urlencoded" encoding algorithm per Appendix B, and the
/// encoded value is used as the username; the client password is encoded using the same
/// algorithm and used as the password."
fn parse_basic(encoded: &str) -> Result<ClientCredentials, OAuthError> {
    let malformed = || OAuthError::invalid_request("malformed Basic credentials");
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    // RFC 6749 Appendix A: client_id and client_secret are *VSCHAR (%x20-7E); a control
    // character, a NUL above all (PostgreSQL's text cannot hold one), is malformed.
    if id.is_empty() || id.chars().chain(secret.chars()).any(|c| c.is_ascii_control()) {
        return Err(malformed());
    }
    Ok(ClientCredentials {
        client_id: id,
        secret: (!secret.is_empty()).then(|| Secret::new(secret)),
        method: ClientAuthMethod::ClientSecretBasic,
    })
}

fn form_decode(component: &str) -> Option<String> {
    // Client ids and the secrets Portcullis makes need no decoding; skip the copies.
    if !component.contains(['+', '%']) {
        return Some(component.to_owned());
    }
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().ok().map(|s| s.into_owned())
}

/// The client credentials of a request, from the header or the body but never both:
/// RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
/// request."
pub fn credentials(auth: Authorization, params: &Params) -> Result<Option<ClientCredentials>, OAuthError> {
    match auth {
        Authorization::Basic(credentials) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("client credentials sent both in the header and the body"));
            }
            if params.get("client_id").is_some_and(|id| id != credentials.client_id) {
                return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
            }
            Ok(Some(credentials))
        }
        Authorization::Bearer(_) => Err(OAuthError::invalid_client(true)),
        Authorization::None => Ok(params.get("client_id").map(|id| {
            let secret = params.get("client_secret").map(|s| Secret::new(s.to_owned()));
            let method = if secret.is_some() { ClientAuthMethod::ClientSecretPost } else { ClientAuthMethod::None };
            ClientCredentials { client_id: id.to_owned(), secret, method }
        })),
    }
}

/// Checks credentials against the registered application: a confidential client must
/// present its secret (compared in constant time against the stored hash); a public one
/// must not present any.
pub async fn authenticate(
    store: &dyn Store,
    credentials: Option<&ClientCredentials>,
) -> Result<Application, AuthFailure> {
    let Some(credentials) = credentials else {
        return Err(AuthFailure::Rejected(OAuthError::invalid_client(false)));
    };
    let basic = credentials.basic();
    let app = store.application_by_client_id(&credentials.client_id).await.map_err(AuthFailure::Store)?;
    let presented = credentials.secret.as_ref().map(Secret::hash);
    let ok = match (&app, presented) {
        // The comparison is of hashes, in constant time: neither the stored hash nor the
        // presented secret leaks through timing.
        (Some(app), Some(presented)) if app.settings.client_type == ClientType::Confidential => {
            app.client_secret_hash.as_ref().is_some_and(|stored| stored.ct_eq(&presented))
        }
        (Some(app), None) => app.settings.client_type == ClientType::Public,
        _ => false,
    };
    match app {
        Some(app) if ok => Ok(app),
        _ => Err(AuthFailure::Rejected(OAuthError::invalid_client(basic))),
    }
}

/// Why authentication did not succeed: the client's fault, or the database's.
#[derive(Debug)]
pub enum AuthFailure {
    Rejected(OAuthError),
    Store(crate::store::StoreError),
}

impl From<AuthFailure> for super::EndpointError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Rejected(e) => Self::OAuth(e),
            AuthFailure::Store(e) => Self::Store(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn basic(raw: &str) -> Result<Authorization, OAuthError> {
        let mut h = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(raw));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&value).map_err(|_| OAuthError::invalid_request("x"))?);
        authorization_header(&h)
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        match basic("my%3Aclient:s%2Bc+r%25t") {
            Ok(Authorization::Basic(c)) => {
                assert_eq!(c.client_id, "my:client");
                assert_eq!(c.secret.as_ref().map(Secret::expose), Some("s+c r%t"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(basic("public:"), Ok(Authorization::Basic(ClientCredentials { secret: None, .. }))));
    }

    #[test]
    fn malformed_basic_is_invalid_request() {
        for raw in ["nocolon", ":secret", "a:%ZZ%FF", "a%00b:secret", "a:b\nc"] {
            let err = basic(raw).err().map(|e| e.code);
            assert_eq!(err, Some(super::super::ErrorCode::InvalidRequest), "{raw}");
        }
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(authorization_header(&h).is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert_eq!(
            authorization_header(&h).err().map(|e| (e.code, e.basic_challenge)),
            Some((super::super::ErrorCode::InvalidClient, true))
        );
    }
}
