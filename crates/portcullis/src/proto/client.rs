//! What a client application is (RFC 6749 §2.1), which grants it may use (with
//! django-oauth-toolkit's names) and what its access tokens look like.

use std::fmt;
use std::str::FromStr;

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Can keep a secret: authenticates with one.
    Confidential,
    /// Cannot (a browser or native app): identifies itself by `client_id` alone.
    Public,
}

impl ClientType {
    /// The name as stored and as the command line spells it: `confidential` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err(format!("unknown client type {s:?} (expected confidential or public)")),
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`, RFC 8414 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: the id and secret in HTTP Basic (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_secret_post`: the id and secret in the request body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// `none`: a public client, which sends its `client_id` alone.
    None,
}

impl ClientAuthMethod {
    /// Every method, in the order the metadata documents list them.
    pub const ALL: [ClientAuthMethod; 3] = [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None];

    /// The registered name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// What an application's access tokens are on the wire. Either way the server keeps
/// only the token's hash, so introspection, revocation and the store-backed check treat
/// both alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// Random strings that mean something only to the server: a resource server asks
    /// the server (or its database) about each one, so revocation takes effect at once.
    #[default]
    Opaque,
    /// Signed JWTs (RFC 9068) that a resource server can check offline against the
    /// JWKS. A revoked JWT stays acceptable to such a server until it expires, unless
    /// that server introspects.
    Jwt,
}

impl AccessTokenFormat {
    /// Every format, in the order forms list them.
    pub const ALL: [AccessTokenFormat; 2] = [Self::Opaque, Self::Jwt];

    /// The name as stored and as forms and the command line spell it: `opaque` or `jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

impl FromStr for AccessTokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown access token format {s:?} (expected opaque or jwt)"))
    }
}

/// The grants an application may use, named as django-oauth-toolkit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.1: a code from the authorization endpoint, exchanged for tokens.
    AuthorizationCode,
    /// RFC 6749 §4.2: an access token (or OpenID Connect ID token) straight from the
    /// authorization endpoint.
    Implicit,
    /// RFC 6749 §4.3: the resource owner's username and password at the token endpoint.
    Password,
    /// RFC 6749 §4.4: a token the client holds for itself, with no user.
    ClientCredentials,
    /// RFC 8628: a device without a browser, approved by the user elsewhere.
    DeviceCode,
    /// OpenID Connect Core §3.3: a code together with an ID token or access token.
    OpenidHybrid,
}

impl GrantType {
    /// Every grant, in the order forms list them.
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::Password,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::OpenidHybrid,
    ];

    /// django-oauth-toolkit's name, as stored and as the command line spells it
    /// (`authorization-code`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization-code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client-credentials",
            Self::DeviceCode => "device-code",
            Self::OpenidHybrid => "openid-hybrid",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|g| g.as_str()).collect();
            format!("unknown grant type {s:?} (expected one of {})", names.join(", "))
        })
    }
}
