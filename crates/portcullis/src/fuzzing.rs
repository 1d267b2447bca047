//! The one door the fuzz targets under `fuzz/` come in by: thin wrappers over parsers
//! that are private to the crate, so that `cargo fuzz` drives the very code the server
//! runs. Compiled only with the `fuzzing` feature, which is off by default and which no
//! program but the fuzz targets should turn on; nothing here is a stable API.

use http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;

use crate::oauth::authorize::Redirect;
use crate::oauth::{client_auth, pkce, redirect, OAuthError, Params};
use crate::oidc::keys::{KeyError, MemoryKeys};
use crate::proto::{ResponseType, SigningAlgorithm};

/// The parameters of a POST body to an OAuth endpoint (form or JSON, by its
/// `Content-Type`), as the token, revocation, introspection and device endpoints read
/// them, by name.
pub fn body_params(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    Params::from_body(headers, body).map(|p| owned(&p))
}

/// The parameters of a query string, as the authorization endpoint reads them.
pub fn query_params(query: Option<&str>) -> Result<Vec<(String, String)>, OAuthError> {
    Params::from_query(query).map(|p| owned(&p))
}

fn owned(params: &Params) -> Vec<(String, String)> {
    params.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
}

/// Client credentials as presented, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// The secret, if one was sent.
    pub client_secret: Option<String>,
    /// Whether they came in HTTP Basic rather than the body.
    pub basic: bool,
}

/// What an `Authorization` header carries, as the OAuth endpoints read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// No header.
    None,
    /// HTTP Basic client credentials (RFC 6749 §2.3.1).
    Basic(Credentials),
    /// A bearer token (the introspection endpoint's callers).
    Bearer(String),
}

/// Reads the `Authorization` header as the token, revocation and introspection
/// endpoints do.
pub fn authorization_header(headers: &HeaderMap) -> Result<Authorization, OAuthError> {
    Ok(match client_auth::authorization_header(headers)? {
        client_auth::Authorization::None => Authorization::None,
        client_auth::Authorization::Basic(c) => Authorization::Basic(credentials(c)),
        client_auth::Authorization::Bearer(token) => Authorization::Bearer(token),
    })
}

/// The client credentials of a request with these headers and body, read in the order
/// the token endpoint reads them: the body, the header, then the rule that a request
/// uses one authentication method only.
pub fn client_credentials(headers: &HeaderMap, body: &[u8]) -> Result<Option<Credentials>, OAuthError> {
    let params = Params::from_body(headers, body)?;
    let authorization = client_auth::authorization_header(headers)?;
    Ok(client_auth::credentials(authorization, &params)?.map(credentials))
}

fn credentials(c: client_auth::ClientCredentials) -> Credentials {
    Credentials {
        client_secret: c.secret.as_ref().map(|s| s.expose().to_owned()),
        basic: c.basic(),
        client_id: c.client_id,
    }
}

/// The PKCE method a `code_challenge_method` names (RFC 7636 §4.3), by its name.
pub fn pkce_method(value: Option<&str>) -> Option<&'static str> {
    crate::proto::CodeChallengeMethod::from_param(value).map(crate::proto::CodeChallengeMethod::as_str)
}

/// Whether a code verifier or challenge has RFC 7636 §4.1's form.
pub fn pkce_is_well_formed(value: &str) -> bool {
    pkce::is_well_formed(value)
}

/// Whether `verifier` answers `challenge` under `method` (RFC 7636 §4.6); `None` for a
/// method the server does not know.
pub fn pkce_verify(method: &str, challenge: &str, verifier: &str) -> Option<bool> {
    crate::proto::CodeChallengeMethod::parse(method).map(|m| pkce::verify(m, challenge, verifier))
}

/// Checks a redirection URI an application registers.
pub fn validate_registered_redirect_uri(uri: &str, allowed_schemes: &[String]) -> Result<(), String> {
    redirect::validate_registered(uri, allowed_schemes)
}

/// The redirection URI an authorization request is answered at, and whether it named
/// it; `localhost` is `[oauth2] allow_localhost_loopback`.
pub fn select_redirect_uri(
    registered: &[String],
    requested: Option<&str>,
    localhost: bool,
) -> Result<(String, bool), &'static str> {
    redirect::select(registered, requested, redirect::Policy { localhost_is_loopback: localhost, ..Default::default() })
}

/// Whether a token request's `redirect_uri` fits the code's authorization request.
pub fn code_redirect_matches(issued: &str, registered: &[String], given: Option<&str>) -> bool {
    redirect::code_redirect_matches(issued, registered, given)
}

/// The `Location` the authorization endpoint of `issuer` sends an error to, at
/// `redirect_uri` (a registered one) for `response_type`, with `state` echoed; `None`
/// for a response type the server does not know.
pub fn error_location(
    redirect_uri: &str,
    response_type: &str,
    state: Option<&str>,
    description: &str,
    issuer: &str,
) -> Option<String> {
    let mut params = vec![("error", "invalid_request".to_owned()), ("error_description", description.to_owned())];
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    let response_type = ResponseType::parse(response_type)?;
    Some(Redirect { redirect_uri: redirect_uri.to_owned(), response_type, params }.location(issuer))
}

/// The login page's `next` target, if it is safe to redirect to.
pub fn safe_next(next: &str) -> Option<&str> {
    crate::pages::safe_next(Some(next))
}

/// One signing key per algorithm, in memory, checking tokens as the server checks an
/// `id_token_hint`.
pub struct IdTokenKeys(MemoryKeys);

impl IdTokenKeys {
    /// Makes the keys.
    pub fn generate() -> Result<Self, KeyError> {
        MemoryKeys::generate(0).map(Self)
    }

    /// The `sub` and `aud` of `token` if one of these keys signed it for `issuer`, as
    /// the authorization and logout endpoints verify an `id_token_hint`.
    pub fn identify(&self, token: &str, issuer: &str) -> Option<(String, String)> {
        self.0.identify(token, issuer).map(|id| (id.subject, id.client_id))
    }

    /// `claims` signed with the key for `alg` (`RS256`, `ES256` or `EdDSA`), the header
    /// having `typ` and `kid` as given (`kid` defaults to the key's own).
    pub fn sign(
        &self,
        alg: &str,
        typ: Option<&str>,
        kid: Option<&str>,
        claims: &serde_json::Value,
    ) -> Result<String, KeyError> {
        let alg = SigningAlgorithm::parse(alg).ok_or_else(|| KeyError::Sign(format!("unknown algorithm {alg}")))?;
        self.0.sign(alg, typ, kid, claims)
    }

    /// The public keys, as the server publishes them.
    pub fn jwks(&self) -> JwkSet {
        self.0.jwks()
    }

    /// The `kid` of the key for `alg`.
    pub fn kid(&self, alg: &str) -> Option<&str> {
        SigningAlgorithm::parse(alg).and_then(|alg| self.0.kid(alg))
    }
}
