//! The metadata documents: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2. Both are
//! made here from the route constants the router serves (`paths`), from the
//! protocol's types that the endpoints parse requests into (`proto`), and from the
//! settings, so they cannot name an endpoint, grant, response type, PKCE method,
//! algorithm or authentication method the server does not serve (the RFC 9700
//! switches included).

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::paths;
use crate::proto::{ClientAuthMethod, CodeChallengeMethod, ResponseType, SigningAlgorithm, TokenGrant};

/// This server's issuer identifier: the metadata's `issuer` (RFC 8414 §2), and the
/// `iss` of every authorization response (RFC 9207 §2.3: "The issuer identifier
/// included in the server's metadata value issuer MUST be identical to the iss
/// parameter's value.").
pub fn issuer(config: &Config) -> &str {
    config.oidc.issuer.trim_end_matches('/')
}

/// The metadata of this server. `openid` adds the OpenID Connect members (the JWKS,
/// UserInfo, ID token algorithms, subject types and claims).
pub fn metadata(config: &Config, openid: bool) -> Value {
    let issuer = issuer(config);
    let served = &config.oauth2;
    // Endpoints hang off the issuer's origin: the issuer is `…/o`, the paths start with
    // `/o/`.
    let at = |path: &str| config.public_url(path);
    let mut doc = Map::new();
    let mut put = |key: &str, value: Value| {
        doc.insert(key.to_owned(), value);
    };
    put("issuer", json!(issuer));
    put("authorization_endpoint", json!(at(paths::AUTHORIZE)));
    put("token_endpoint", json!(at(paths::TOKEN)));
    put("revocation_endpoint", json!(at(paths::REVOKE)));
    put("introspection_endpoint", json!(at(paths::INTROSPECT)));
    put("device_authorization_endpoint", json!(at(paths::DEVICE_AUTHORIZATION)));
    put("scopes_supported", json!(config.oauth2.scopes.keys().collect::<Vec<_>>()));
    // OAuth 2.0 Multiple Response Type Encoding Practices §5 names the combinations;
    // the ones with an ID token are OpenID Connect's.
    let response_types =
        ResponseType::ALL.into_iter().filter(|kind| (openid || !kind.id_token) && served.serves_response_type(*kind));
    put("response_types_supported", json!(response_types.map(ResponseType::as_str).collect::<Vec<_>>()));
    put("response_modes_supported", json!(["query", "fragment"]));
    let grants = TokenGrant::ALL.into_iter().filter(|grant| served.serves_grant(*grant));
    put("grant_types_supported", json!(grants.map(TokenGrant::as_str).collect::<Vec<_>>()));
    put("token_endpoint_auth_methods_supported", json!(ClientAuthMethod::ALL.map(ClientAuthMethod::as_str)));
    let with_secret =
        [ClientAuthMethod::ClientSecretBasic, ClientAuthMethod::ClientSecretPost].map(ClientAuthMethod::as_str);
    put("revocation_endpoint_auth_methods_supported", json!(with_secret));
    // Introspection also takes a bearer token with scope `introspection`.
    let introspection = [with_secret[0], with_secret[1], "bearer"];
    put("introspection_endpoint_auth_methods_supported", json!(introspection));
    let methods = CodeChallengeMethod::ALL.into_iter().filter(|method| served.serves_pkce_method(*method));
    put("code_challenge_methods_supported", json!(methods.map(CodeChallengeMethod::as_str).collect::<Vec<_>>()));
    // RFC 9207 §3: "authorization_response_iss_parameter_supported: Boolean parameter
    // indicating whether the authorization server provides the iss parameter in the
    // authorization response as defined in Section 2. If omitted, the default value is
    // false." Every answer of the authorization endpoint carries it.
    put("authorization_response_iss_parameter_supported", json!(true));
    if openid {
        put("userinfo_endpoint", json!(at(paths::USERINFO)));
        put("jwks_uri", json!(at(paths::JWKS)));
        put("end_session_endpoint", json!(at(paths::END_SESSION)));
        put("subject_types_supported", json!(["public"]));
        put("claim_types_supported", json!(["normal"]));
        put("id_token_signing_alg_values_supported", json!(SigningAlgorithm::ALL.map(SigningAlgorithm::as_str)));
        put(
            "claims_supported",
            json!([
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "c_hash",
                "azp",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "email",
                "email_verified"
            ]),
        );
        put("claims_parameter_supported", json!(false));
        put("request_parameter_supported", json!(false));
        // Discovery §3: "If omitted, the default value is true", and there is no
        // `request_uri` support, so it must be said.
        put("request_uri_parameter_supported", json!(false));
    }
    Value::Object(doc)
}
