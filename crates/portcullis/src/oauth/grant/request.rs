//! A token request's parameters as types (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6; RFC
//! 8628 §3.4), taken once from the parsed body.
//!
//! The endpoint reads a request in two steps, so that its errors come in the order
//! clients see today: the `grant_type` first ([`grant_type`]: missing, then
//! unsupported), then the client's authentication and whether it may use the grant,
//! and only then the grant's own parameters ([`TokenRequest::parse`]).

use std::fmt;

use portcullis_axum::ScopeSet;

use super::super::{scope, ErrorCode, OAuthError, Params};
use crate::config::OAuth2Settings;
use crate::crypto::TokenHash;
use crate::proto::TokenGrant;

/// A credential from a request: printed as `[redacted]` and never cloned.
macro_rules! secret_param {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub(crate) struct $name(String);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_param!(
    /// RFC 6749 §4.1.3 `code`.
    AuthorizationCode
);
secret_param!(
    /// RFC 7636 §4.5 `code_verifier`.
    CodeVerifier
);
secret_param!(
    /// RFC 6749 §6 `refresh_token`.
    RefreshToken
);
secret_param!(
    /// RFC 6749 §4.3.2 `password`.
    Password
);
secret_param!(
    /// RFC 8628 §3.4 `device_code`.
    DeviceCode
);

impl AuthorizationCode {
    /// What the store keeps of it.
    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl CodeVerifier {
    /// The value, to check against the code's challenge.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl RefreshToken {
    /// What the store keeps of it.
    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// The value, handed back to the client when it is not rotated.
    pub(crate) fn into_exposed(self) -> String {
        self.0
    }
}

impl Password {
    /// The value, to check against the account's.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl DeviceCode {
    /// What the store keeps of it.
    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// The grant a token request names. RFC 6749 §5.2: a missing `grant_type` is
/// `invalid_request`; one the server does not know, or that `settings` switch off
/// (the password grant, RFC 9700 §2.4), `unsupported_grant_type`: "The authorization
/// grant type is not supported by the authorization server."
pub(crate) fn grant_type(params: &Params, settings: &OAuth2Settings) -> Result<TokenGrant, OAuthError> {
    let value = params.require("grant_type")?;
    let grant = TokenGrant::from_grant_type(value).ok_or_else(|| unsupported(value))?;
    if !settings.serves_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant type {value} is switched off on this server (RFC 9700 section 2.4: it MUST NOT be used)"),
        ));
    }
    Ok(grant)
}

fn unsupported(value: &str) -> OAuthError {
    OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant type {value:?} is not supported"))
}

/// A token request, one variant per grant, with its parameters parsed.
#[derive(Debug)]
pub(crate) enum TokenRequest {
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    AuthorizationCode {
        code: AuthorizationCode,
        /// Required when the authorization request had one; checked against the code.
        redirect_uri: Option<String>,
        code_verifier: Option<CodeVerifier>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: RefreshToken,
        /// The narrower scope asked for. A malformed one is reported only once the
        /// refresh token is known to be good: an unknown refresh token is
        /// `invalid_grant`, whatever else the request says.
        scope: Result<Option<ScopeSet>, OAuthError>,
    },
    /// RFC 6749 §4.3.2.
    Password { username: String, password: Password, scope: Option<ScopeSet> },
    /// RFC 6749 §4.4.2.
    ClientCredentials { scope: Option<ScopeSet> },
    /// RFC 8628 §3.4.
    DeviceCode { device_code: DeviceCode },
}

impl TokenRequest {
    /// The parameters of a request for `grant` ([`grant_type`]'s answer), taken out of
    /// `params`. Required ones come first, in the order RFC 6749 lists them, then the
    /// scope: a missing parameter is `invalid_request`, a malformed scope
    /// `invalid_scope`.
    pub(crate) fn parse(grant: TokenGrant, mut params: Params) -> Result<Self, OAuthError> {
        let scope = |params: &mut Params| scope::requested(params.take("scope").as_deref());
        Ok(match grant {
            TokenGrant::AuthorizationCode => Self::AuthorizationCode {
                code: AuthorizationCode(params.take_required("code")?),
                redirect_uri: params.take("redirect_uri"),
                code_verifier: params.take("code_verifier").map(CodeVerifier),
            },
            TokenGrant::RefreshToken => Self::RefreshToken {
                refresh_token: RefreshToken(params.take_required("refresh_token")?),
                scope: scope(&mut params),
            },
            TokenGrant::Password => Self::Password {
                username: params.take_required("username")?,
                password: Password(params.take_required("password")?),
                scope: scope(&mut params)?,
            },
            TokenGrant::ClientCredentials => Self::ClientCredentials { scope: scope(&mut params)? },
            TokenGrant::DeviceCode => {
                Self::DeviceCode { device_code: DeviceCode(params.take_required("device_code")?) }
            }
            // Never a `grant_type` value: its tokens come from the authorization endpoint.
            TokenGrant::Implicit => return Err(unsupported(grant.as_str())),
        })
    }
}

#[cfg(test)]
mod tests {
    use http::header::CONTENT_TYPE;
    use http::{HeaderMap, HeaderValue};

    use super::*;

    fn params(body: &str) -> Params {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        Params::from_body(&headers, body.as_bytes()).unwrap_or_default()
    }

    fn error(body: &str) -> Option<(ErrorCode, String)> {
        let params = params(body);
        let parsed =
            grant_type(&params, &OAuth2Settings::default()).and_then(|grant| TokenRequest::parse(grant, params));
        parsed.err().map(|e| (e.code, e.description.into_owned()))
    }

    #[test]
    fn the_grant_type_is_read_first() {
        let missing = Some((ErrorCode::InvalidRequest, "missing parameter: grant_type".to_owned()));
        assert_eq!(error("grant_type=&code=x"), missing);
        let implicit = error("grant_type=implicit").map(|(code, _)| code);
        assert_eq!(implicit, Some(ErrorCode::UnsupportedGrantType));
        assert_eq!(
            error("grant_type=magic"),
            Some((ErrorCode::UnsupportedGrantType, "grant type \"magic\" is not supported".into()))
        );
    }

    #[test]
    fn the_password_grant_can_be_switched_off() {
        // RFC 9700 §2.4: "The resource owner password credentials grant [RFC6749] MUST
        // NOT be used."
        let bcp = OAuth2Settings { compliant_bcp_rfc9700_password_grant: true, ..Default::default() };
        let refused = grant_type(&params("grant_type=password&username=a&password=b"), &bcp).map_err(|e| e.code);
        assert_eq!(refused, Err(ErrorCode::UnsupportedGrantType));
        let legacy = grant_type(&params("grant_type=password"), &OAuth2Settings::default());
        assert_eq!(legacy, Ok(TokenGrant::Password));
        for other in ["authorization_code", "client_credentials", "refresh_token"] {
            assert!(grant_type(&params(&format!("grant_type={other}")), &bcp).is_ok(), "{other}");
        }
    }

    #[test]
    fn required_parameters_then_the_scope() {
        let missing = |name: &str| Some((ErrorCode::InvalidRequest, format!("missing parameter: {name}")));
        assert_eq!(error("grant_type=password&scope=caf%C3%A9"), missing("username"));
        assert_eq!(error("grant_type=password&username=a&scope=caf%C3%A9"), missing("password"));
        let malformed = error("grant_type=password&username=a&password=b&scope=caf%C3%A9").map(|(code, _)| code);
        assert_eq!(malformed, Some(ErrorCode::InvalidScope));
        assert_eq!(error("grant_type=authorization_code&code_verifier=v"), missing("code"));
        assert_eq!(error("grant_type=urn:ietf:params:oauth:grant-type:device_code"), missing("device_code"));
        // A refresh's scope waits for the refresh token to be checked.
        assert_eq!(error("grant_type=refresh_token&refresh_token=r&scope=caf%C3%A9"), None);
        assert_eq!(error("grant_type=refresh_token&scope=read"), missing("refresh_token"));
    }

    #[test]
    fn credentials_print_redacted() {
        let params = params("grant_type=password&username=alice&password=hunter22&scope=read");
        let request = TokenRequest::parse(TokenGrant::Password, params).map(|r| format!("{r:?}"));
        let printed = request.unwrap_or_default();
        assert!(printed.contains("Password([redacted])") && printed.contains("alice"), "{printed}");
        assert!(!printed.contains("hunter22"), "{printed}");
    }
}
