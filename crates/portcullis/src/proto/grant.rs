//! Grants by their OAuth names (RFC 6749 §4, §6; RFC 8628 §3.4), as the token
//! endpoint's `grant_type` and the metadata documents spell them.

use std::fmt;

use super::{ClientType, GrantType};

/// A way of getting tokens, by its OAuth name (RFC 7591 §2, RFC 8414 §2
/// `grant_types_supported`): the `grant_type` values of the token endpoint, and
/// `implicit`, whose tokens come from the authorization endpoint instead.
///
/// An application's registration names grants differently ([`GrantType`],
/// django-oauth-toolkit's names); [`TokenGrant::is_allowed_for`] maps one to the
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenGrant {
    /// `authorization_code`: RFC 6749 §4.1.3, a code from the authorization endpoint.
    AuthorizationCode,
    /// `implicit`: RFC 6749 §4.2, an access token straight from the authorization
    /// endpoint. Never a `grant_type` value.
    Implicit,
    /// `password`: RFC 6749 §4.3, the resource owner's username and password.
    Password,
    /// `client_credentials`: RFC 6749 §4.4, a token the client holds for itself.
    ClientCredentials,
    /// `refresh_token`: RFC 6749 §6, new tokens for a refresh token.
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:device_code`: RFC 8628 §3.4, a device's poll.
    DeviceCode,
}

impl TokenGrant {
    /// Every grant, in the order the metadata documents list them.
    pub const ALL: [TokenGrant; 6] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::Password,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
    ];

    /// The OAuth name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The grant a token request's `grant_type` names, exactly; `None` for any value
    /// the token endpoint does not serve, `implicit` among them.
    pub fn from_grant_type(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|grant| *grant != Self::Implicit && grant.as_str() == value)
    }

    /// Whether a client of `client_type` registered for `grants` may use this grant:
    /// one of the registered grants leads to it, and for `client_credentials` the
    /// client is confidential (RFC 6749 §4.4: "The client credentials grant type MUST
    /// only be used by confidential clients."). `refresh_token` needs no grant of its
    /// own: the grant that issued the refresh token was checked then.
    pub fn is_allowed_for(self, client_type: ClientType, grants: &[GrantType]) -> bool {
        let registered = |needed: &[GrantType]| needed.iter().any(|grant| grants.contains(grant));
        match self {
            // OpenID Connect Core §3.3: the hybrid flow issues codes and tokens too.
            Self::AuthorizationCode => registered(&[GrantType::AuthorizationCode, GrantType::OpenidHybrid]),
            Self::Implicit => registered(&[GrantType::Implicit, GrantType::OpenidHybrid]),
            Self::Password => registered(&[GrantType::Password]),
            Self::ClientCredentials => {
                client_type == ClientType::Confidential && registered(&[GrantType::ClientCredentials])
            }
            Self::RefreshToken => true,
            Self::DeviceCode => registered(&[GrantType::DeviceCode]),
        }
    }
}

impl fmt::Display for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_type_values_are_exact_and_never_implicit() {
        for grant in TokenGrant::ALL {
            let expected = (grant != TokenGrant::Implicit).then_some(grant);
            assert_eq!(TokenGrant::from_grant_type(grant.as_str()), expected);
        }
        for other in ["implicit", "Password", "device_code", "authorization-code", ""] {
            assert_eq!(TokenGrant::from_grant_type(other), None, "{other}");
        }
    }

    #[test]
    fn registered_grants_lead_to_token_grants() {
        use ClientType::{Confidential, Public};
        let hybrid = [GrantType::OpenidHybrid];
        assert!(TokenGrant::AuthorizationCode.is_allowed_for(Public, &hybrid));
        assert!(TokenGrant::Implicit.is_allowed_for(Public, &hybrid));
        assert!(!TokenGrant::Password.is_allowed_for(Public, &hybrid));
        assert!(TokenGrant::RefreshToken.is_allowed_for(Public, &[]));
        let cc = [GrantType::ClientCredentials];
        assert!(TokenGrant::ClientCredentials.is_allowed_for(Confidential, &cc));
        assert!(!TokenGrant::ClientCredentials.is_allowed_for(Public, &cc), "RFC 6749 §4.4");
        assert!(TokenGrant::DeviceCode.is_allowed_for(Public, &[GrantType::DeviceCode]));
        assert!(!TokenGrant::DeviceCode.is_allowed_for(Confidential, &cc));
    }
}
