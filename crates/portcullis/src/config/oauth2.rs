//! `[oauth2]`: tokens, scopes and the rules of the OAuth 2.0 endpoints.

use std::collections::BTreeMap;

use portcullis_axum::ScopeSet;
use serde::{Deserialize, Serialize};

use crate::proto::{CodeChallengeMethod, ResponseType, TokenGrant};

/// `[oauth2]`: tokens, scopes and the rules of the OAuth 2.0 endpoints. Each key `k` is
/// also read from the variable `PORTCULLIS_K`.
///
/// ```
/// use portcullis::config::Config;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("portcullis.toml");
/// std::fs::write(&file, r#"
/// [oauth2]
/// scopes = { read = "Read your orders", write = "Place orders" }
/// access_token_expire_seconds = 600
/// rotate_refresh_token = false
/// "#)?;
/// // `PORTCULLIS_` + the key in upper case, for `[oauth2]` keys; lists as words.
/// let env = [("PORTCULLIS_DEFAULT_SCOPES".to_owned(), "read write".to_owned())];
/// let oauth2 = Config::load(Some(&file), env)?.oauth2;
/// assert_eq!(oauth2.access_token_expire_seconds, 600);
/// assert_eq!(oauth2.default_scopes, ["read", "write"]);
/// assert!(!oauth2.rotate_refresh_token && oauth2.pkce_required, "the rest keep their defaults");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Settings {
    /// Every scope the server knows, with the description the consent page shows.
    pub scopes: BTreeMap<String, String>,
    /// The scopes granted when a request names none (RFC 6749 §3.3).
    pub default_scopes: Vec<String>,
    /// How long access tokens live (RFC 6749 §5.1 `expires_in`); also ID tokens.
    pub access_token_expire_seconds: u32,
    /// 0: refresh tokens do not expire.
    pub refresh_token_expire_seconds: u32,
    /// How long an authorization code may wait to be exchanged (RFC 6749 §4.1.2: "A
    /// maximum authorization code lifetime of 10 minutes is RECOMMENDED").
    pub authorization_code_expire_seconds: u32,
    /// Whether each refresh issues a new refresh token and retires the old one (RFC 6749
    /// §6, OAuth 2.0 Security BCP refresh token rotation); reuse of a retired one then
    /// revokes its family.
    pub rotate_refresh_token: bool,
    /// How long a rotated-out refresh token may still be retried by a client that lost
    /// the answer, before its reuse counts as replay; 0: never.
    pub refresh_token_grace_period_seconds: u32,
    /// Whether code requests must carry a PKCE challenge (RFC 7636 §4.4.1), from every
    /// client.
    pub pkce_required: bool,
    /// The schemes redirection URIs (and post-logout ones) may use when registered.
    pub allowed_redirect_uri_schemes: Vec<String>,
    /// Whether `http://localhost` redirection URIs match on any port, as the loopback
    /// IP literals always do (RFC 8252 §7.3). Off by default: RFC 8252 §8.3 calls
    /// `localhost` "NOT RECOMMENDED", since the name may resolve to another address.
    pub allow_localhost_loopback: bool,
    /// RFC 9700 §2.1.2: refuse the response types that return an access token from the
    /// authorization endpoint (`token`, `id_token token`, `code token`, `code id_token
    /// token`) with `unsupported_response_type`.
    pub compliant_bcp_rfc9700_implicit_grant: bool,
    /// RFC 9700 §2.4: refuse the resource owner password credentials grant with
    /// `unsupported_grant_type`.
    pub compliant_bcp_rfc9700_password_grant: bool,
    /// RFC 9700 §2.1.1: accept only the `S256` PKCE method; `plain` (named, or by
    /// default) is `invalid_request`.
    pub compliant_bcp_rfc9700_pkce_method: bool,
    /// RFC 9700 §2.6: redirection URIs must use `https`, or `http` on loopback only;
    /// other `http` URIs are refused when an application is saved, and at the
    /// authorization endpoint for applications registered before.
    pub compliant_bcp_rfc9700_redirect_uri_scheme: bool,
    /// CORS origins allowed at the token, revocation and UserInfo endpoints for every
    /// client; each application's own `allowed_origins` add to them for that client.
    pub allowed_origins: Vec<String>,
    /// Seconds a device must wait between polls (RFC 8628 §3.5).
    pub device_flow_interval: u32,
    /// Which tokens an authorized caller of the introspection endpoint may learn about
    /// (RFC 7662 §4): `any_client` (the default) or `audience`.
    pub introspection_policy: IntrospectionPolicy,
    /// `aud` of JWT access tokens (RFC 9068 §3: with no resource indicator, "the
    /// authorization server MUST use a default resource indicator in the aud claim").
    /// Empty: the issuer.
    pub jwt_access_token_audience: String,
    /// The resources (RFC 8707 `resource`, absolute URIs compared exactly) clients may
    /// ask tokens for; empty: any.
    pub allowed_resources: Vec<String>,
}

impl Default for OAuth2Settings {
    fn default() -> Self {
        Self {
            scopes: BTreeMap::from([
                ("read".to_owned(), "Read scope".to_owned()),
                ("write".to_owned(), "Write scope".to_owned()),
                ("groups".to_owned(), "Access to your groups".to_owned()),
            ]),
            default_scopes: vec!["read".to_owned()],
            access_token_expire_seconds: 36000,
            refresh_token_expire_seconds: 0,
            authorization_code_expire_seconds: 60,
            rotate_refresh_token: true,
            refresh_token_grace_period_seconds: 0,
            pkce_required: true,
            allowed_redirect_uri_schemes: vec!["http".to_owned(), "https".to_owned()],
            allow_localhost_loopback: false,
            compliant_bcp_rfc9700_implicit_grant: false,
            compliant_bcp_rfc9700_password_grant: false,
            compliant_bcp_rfc9700_pkce_method: false,
            compliant_bcp_rfc9700_redirect_uri_scheme: false,
            allowed_origins: Vec::new(),
            device_flow_interval: 5,
            introspection_policy: IntrospectionPolicy::default(),
            jwt_access_token_audience: String::new(),
            allowed_resources: Vec::new(),
        }
    }
}

/// Who may introspect which token (`[oauth2] introspection_policy`, env
/// `PORTCULLIS_INTROSPECTION_POLICY`). Either way only confidential clients and bearer
/// tokens with scope `introspection` may call the endpoint (RFC 7662 §2.1); the policy
/// decides what they learn. A token a caller may not introspect is answered
/// `{"active": false}`, as an unknown one is, so asking reveals nothing.
///
/// ```
/// use portcullis::config::{Config, IntrospectionPolicy};
///
/// assert_eq!(Config::defaults().oauth2.introspection_policy, IntrospectionPolicy::AnyClient);
/// let env = [("PORTCULLIS_INTROSPECTION_POLICY".to_owned(), "audience".to_owned())];
/// assert_eq!(Config::load(None, env)?.oauth2.introspection_policy, IntrospectionPolicy::Audience);
/// let typo = [("PORTCULLIS_INTROSPECTION_POLICY".to_owned(), "audiences".to_owned())];
/// assert!(Config::load(None, typo).unwrap_err().to_string().contains("introspection_policy"));
/// # Ok::<(), portcullis::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionPolicy {
    /// Any authorized caller learns about any token (django-oauth-toolkit's behaviour).
    #[default]
    AnyClient,
    /// RFC 7662 §4: "the authorization server MUST determine whether or not the token
    /// can be used at the protected resource making the introspection call". A client
    /// learns about the tokens issued to it, and about those whose audience names one of
    /// the resources it is the resource server for; a bearer token with scope
    /// `introspection` about any token.
    Audience,
}

impl OAuth2Settings {
    /// The audience of JWT access tokens issued by `issuer`.
    ///
    /// ```
    /// use portcullis::config::Config;
    ///
    /// let mut settings = Config::defaults().oauth2;
    /// assert_eq!(settings.jwt_audience("https://login.example/o"), "https://login.example/o");
    /// settings.jwt_access_token_audience = "https://api.example/".into();
    /// assert_eq!(settings.jwt_audience("https://login.example/o"), "https://api.example/");
    /// ```
    pub fn jwt_audience<'a>(&'a self, issuer: &'a str) -> &'a str {
        if self.jwt_access_token_audience.is_empty() {
            issuer
        } else {
            &self.jwt_access_token_audience
        }
    }

    /// Every configured scope, as a set.
    ///
    /// ```
    /// use portcullis::config::Config;
    ///
    /// // The contract's three, and OpenID Connect's while it is on.
    /// let scopes = Config::defaults().oauth2.all_scopes();
    /// assert_eq!(scopes.to_string(), "email groups openid profile read write");
    /// ```
    pub fn all_scopes(&self) -> ScopeSet {
        ScopeSet::from_tokens(self.scopes.keys().cloned())
    }
}

/// What the RFC 9700 switches leave served: the endpoints refuse the rest, and the
/// metadata documents leave it out (RFC 8414 §2: `response_types_supported`,
/// `grant_types_supported` and `code_challenge_methods_supported` list what the server
/// supports).
impl OAuth2Settings {
    /// Whether the authorization endpoint answers with `kind`. RFC 9700 §2.1.2: "clients
    /// SHOULD NOT use the implicit grant (response type "token") or other response types
    /// issuing access tokens in the authorization response, such as "token id_token" and
    /// "code token id_token"". With `compliant_bcp_rfc9700_implicit_grant` on, none of
    /// those is served; `id_token` and `code id_token` carry no access token and stay.
    pub fn serves_response_type(&self, kind: ResponseType) -> bool {
        !(self.compliant_bcp_rfc9700_implicit_grant && kind.token)
    }

    /// Whether `grant` is served: RFC 9700 §2.4, "The resource owner password
    /// credentials grant [RFC6749] MUST NOT be used", with
    /// `compliant_bcp_rfc9700_password_grant`; and no `implicit` (RFC 6749 §4.2, whose
    /// access token comes in the authorization response) with
    /// `compliant_bcp_rfc9700_implicit_grant`.
    pub fn serves_grant(&self, grant: TokenGrant) -> bool {
        match grant {
            TokenGrant::Password => !self.compliant_bcp_rfc9700_password_grant,
            TokenGrant::Implicit => !self.compliant_bcp_rfc9700_implicit_grant,
            _ => true,
        }
    }

    /// Whether the authorization endpoint accepts `method`. RFC 9700 §2.1.1: "Clients
    /// SHOULD use PKCE code challenge methods that do not expose the PKCE verifier in the
    /// authorization request. [...] Currently, S256 is the only such method." With
    /// `compliant_bcp_rfc9700_pkce_method` on, `plain` is refused.
    pub fn serves_pkce_method(&self, method: CodeChallengeMethod) -> bool {
        !(self.compliant_bcp_rfc9700_pkce_method && method == CodeChallengeMethod::Plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switches_come_from_the_environment_too() {
        let names = [
            "PORTCULLIS_ALLOW_LOCALHOST_LOOPBACK",
            "PORTCULLIS_COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT",
            "PORTCULLIS_COMPLIANT_BCP_RFC9700_PASSWORD_GRANT",
            "PORTCULLIS_COMPLIANT_BCP_RFC9700_PKCE_METHOD",
            "PORTCULLIS_COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME",
        ];
        let defaults = OAuth2Settings::default();
        let off = [
            defaults.allow_localhost_loopback,
            defaults.compliant_bcp_rfc9700_implicit_grant,
            defaults.compliant_bcp_rfc9700_password_grant,
            defaults.compliant_bcp_rfc9700_pkce_method,
            defaults.compliant_bcp_rfc9700_redirect_uri_scheme,
        ];
        assert_eq!(off, [false; 5], "legacy behaviour by default");
        let env = names.map(|name| (name.to_owned(), "true".to_owned()));
        let loaded = crate::config::Config::load(None, env).map(|c| c.oauth2);
        let on = loaded.map(|o| {
            [
                o.allow_localhost_loopback,
                o.compliant_bcp_rfc9700_implicit_grant,
                o.compliant_bcp_rfc9700_password_grant,
                o.compliant_bcp_rfc9700_pkce_method,
                o.compliant_bcp_rfc9700_redirect_uri_scheme,
            ]
        });
        assert_eq!(on.ok(), Some([true; 5]));
    }

    #[test]
    fn everything_is_served_until_a_switch_says_otherwise() {
        let legacy = OAuth2Settings::default();
        assert!(ResponseType::ALL.into_iter().all(|kind| legacy.serves_response_type(kind)));
        assert!(TokenGrant::ALL.into_iter().all(|grant| legacy.serves_grant(grant)));
        assert!(CodeChallengeMethod::ALL.into_iter().all(|method| legacy.serves_pkce_method(method)));
    }

    #[test]
    fn the_implicit_switch_refuses_every_access_token_from_the_authorization_endpoint() {
        let bcp = OAuth2Settings { compliant_bcp_rfc9700_implicit_grant: true, ..Default::default() };
        // RFC 9700 §2.1.2 names "token", "token id_token" and "code token id_token";
        // "code token" issues an access token in the authorization response too.
        let served: Vec<&str> =
            ResponseType::ALL.into_iter().filter(|k| bcp.serves_response_type(*k)).map(ResponseType::as_str).collect();
        assert_eq!(served, ["code", "id_token", "code id_token"]);
        assert!(!bcp.serves_grant(TokenGrant::Implicit));
        assert!(bcp.serves_grant(TokenGrant::Password), "another switch");
        assert!(bcp.serves_pkce_method(CodeChallengeMethod::Plain), "another switch");
    }

    #[test]
    fn the_password_switch_refuses_the_password_grant_only() {
        // RFC 9700 §2.4: "The resource owner password credentials grant [RFC6749] MUST
        // NOT be used."
        let bcp = OAuth2Settings { compliant_bcp_rfc9700_password_grant: true, ..Default::default() };
        let served: Vec<TokenGrant> = TokenGrant::ALL.into_iter().filter(|g| bcp.serves_grant(*g)).collect();
        assert_eq!(served.len(), TokenGrant::ALL.len() - 1);
        assert!(!served.contains(&TokenGrant::Password));
        assert!(ResponseType::ALL.into_iter().all(|kind| bcp.serves_response_type(kind)));
    }

    #[test]
    fn the_pkce_switch_keeps_s256_only() {
        // RFC 9700 §2.1.1: "Currently, S256 is the only such method."
        let bcp = OAuth2Settings { compliant_bcp_rfc9700_pkce_method: true, ..Default::default() };
        assert!(bcp.serves_pkce_method(CodeChallengeMethod::S256));
        assert!(!bcp.serves_pkce_method(CodeChallengeMethod::Plain));
    }
}
