//! The token endpoint's grants (RFC 6749 §4, §6; RFC 8628 §3.4), one module each, and
//! the minting of the tokens they all issue.

mod authorization_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh_token;

use std::fmt;

use portcullis_axum::ScopeSet;
use serde::Serialize;

use super::{client_auth, scope, EndpointError, ErrorCode, OAuthError, Params};
use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::config::OAuth2Settings;
use crate::crypto::{random_string, Secret};
use crate::hooks::{with_extra, ClaimsFor, ClaimsTarget, Hooks, TokenIssued};
use crate::metrics::Metrics;
use crate::oidc::claims::{id_token_claims, IdTokenInput};
use crate::oidc::keys::{KeyError, KeyRing};
use crate::proto::SigningAlgorithm;
use crate::store::{AccessTokenFormat, Application, AuditKind, NewAuditEvent, NewRefresh, NewTokens, Store};

/// What a grant needs from the server: storage, settings, the time and the keys.
pub struct Context<'a> {
    pub store: &'a dyn Store,
    pub settings: &'a OAuth2Settings,
    pub now: i64,
    /// Signs ID tokens and JWT access tokens.
    pub keys: &'a KeyRing,
    /// `iss` of everything signed.
    pub issuer: &'a str,
    /// Whether OpenID Connect is on: ID tokens are issued only then.
    pub openid: bool,
    /// Who may log in.
    pub accounts: &'a dyn Accounts,
    /// The host's hooks (none for the standalone server).
    pub hooks: &'a dyn Hooks,
    /// Where issued tokens are counted, by grant.
    pub metrics: &'a Metrics,
    /// The per-client limit on token requests.
    pub rate_limits: &'a crate::limits::RateLimits,
    /// The limits on failed logins, which the password grant counts too.
    pub login_limits: &'a crate::config::LimitSettings,
    /// Where security events are recorded.
    pub audit: &'a Audit,
    /// The address the request came from, for the audit log and the
    /// limits on failed logins.
    pub client_addr: Option<std::net::IpAddr>,
}

impl Context<'_> {
    /// An ID token for `input`'s user and application, signed with the algorithm the
    /// application chose, when OpenID Connect is on and the scope has `openid` (Core
    /// §3.1.2.1: "If the openid scope value is not present, the behavior is entirely
    /// unspecified"; Portcullis then issues none).
    pub(crate) async fn id_token(&self, input: IdTokenInput<'_>) -> Result<Option<String>, EndpointError> {
        if !self.openid || !input.scope.contains("openid") {
            return Ok(None);
        }
        let alg = input.app.settings.algorithm;
        let lifetime = i64::from(self.settings.access_token_expire_seconds);
        let claims = id_token_claims(&input, self.issuer, self.now, lifetime, alg);
        let target = ClaimsFor {
            target: ClaimsTarget::IdToken,
            app: input.app,
            user_id: Some(input.user.id),
            scope: input.scope,
        };
        let claims = with_extra(&claims, self.hooks.extra_claims(target).await?)?;
        self.sign(alg, "JWT", &claims).await.map(Some)
    }

    /// The scopes to grant `app` for a request's `scope` parameter: the settings and the
    /// application's allowed scopes decide (see [`scope::resolve`]), then the host's
    /// policy ([`Hooks::allows_scope`]).
    pub(crate) fn scope(&self, requested: Option<&str>, app: &Application) -> Result<ScopeSet, OAuthError> {
        let scope = scope::resolve(requested, self.settings, app)?;
        if !self.hooks.allows_scope(app, &scope) {
            return Err(OAuthError::invalid_scope("the requested scope is not allowed for this client"));
        }
        Ok(scope)
    }

    /// Counts the tokens and tells the host's hooks that `tokens`, of `app`, are stored.
    /// Every issuance, by any grant or the implicit flow, comes through here once.
    pub(crate) async fn issued(&self, app: &Application, tokens: &NewTokens, grant: &'static str) {
        self.metrics.token_issued(grant);
        // In the background: the answer waits for the tokens' commit, not the event's.
        let refresh = if tokens.refresh.is_some() { ", with a refresh token" } else { "" };
        self.audit.record_soon(
            self.event(AuditKind::TokenIssued, app, tokens.user_id)
                .detail(format!("grant {grant}, scope \"{}\"{refresh}", tokens.scope)),
        );
        let event = TokenIssued {
            client_id: app.client_id.clone(),
            user_id: tokens.user_id,
            scope: tokens.scope.clone(),
            grant,
            expires_at: tokens.access_expires_at,
            refresh_token: tokens.refresh.is_some(),
        };
        self.hooks.token_issued(&event).await;
    }

    /// An audit event about `app` and `user_id`, from this request's address, now.
    pub(crate) fn event(&self, kind: AuditKind, app: &Application, user_id: Option<i64>) -> NewAuditEvent {
        NewAuditEvent::new(kind, self.now).user(user_id).client(&app.client_id).addr(self.client_addr)
    }

    async fn sign(&self, alg: SigningAlgorithm, typ: &str, claims: &impl Serialize) -> Result<String, EndpointError> {
        match self.keys.sign_typed(alg, typ, claims, self.now).await {
            Ok(token) => Ok(token),
            Err(KeyError::Store(e)) => Err(e.into()),
            Err(e) => Err(EndpointError::Internal(format!("signing: {e}"))),
        }
    }
}

/// The `grant_type` values the token endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantTypeParam {
    AuthorizationCode,
    Password,
    ClientCredentials,
    RefreshToken,
    DeviceCode,
}

impl GrantTypeParam {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(Self::AuthorizationCode),
            "password" => Some(Self::Password),
            "client_credentials" => Some(Self::ClientCredentials),
            "refresh_token" => Some(Self::RefreshToken),
            "urn:ietf:params:oauth:grant-type:device_code" => Some(Self::DeviceCode),
            _ => None,
        }
    }
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// Handles one request to the token endpoint, whose parameters are already parsed.
pub async fn exchange(
    ctx: &Context<'_>,
    authorization: client_auth::Authorization,
    params: &Params,
) -> Result<TokenResponse, EndpointError> {
    let grant = params.require("grant_type")?;
    let grant = GrantTypeParam::parse(grant).ok_or_else(|| {
        OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant type {grant:?} is not supported"))
    })?;
    let credentials = client_auth::credentials(authorization, params)?;
    let app = authenticate(ctx, credentials).await?;
    match grant {
        GrantTypeParam::Password => password::grant(ctx, &app, params).await,
        GrantTypeParam::ClientCredentials => client_credentials::grant(ctx, &app, params).await,
        GrantTypeParam::RefreshToken => refresh_token::grant(ctx, &app, params).await,
        GrantTypeParam::AuthorizationCode => authorization_code::grant(ctx, &app, params).await,
        GrantTypeParam::DeviceCode => device_code::grant(ctx, &app, params).await,
    }
}

/// Authenticates the client of a token request, within the rate limits: a stranger
/// who knows only a client's id (it is in every authorization URL) uses up a bucket of
/// its own, for that id and its address, never the client's (see
/// [`RateLimits`](crate::limits::RateLimits)).
async fn authenticate(
    ctx: &Context<'_>,
    credentials: Option<client_auth::ClientCredentials>,
) -> Result<Application, EndpointError> {
    let Some(presented) = &credentials else {
        return Ok(client_auth::authenticate(ctx.store, None).await?);
    };
    let limits = ctx.rate_limits;
    limits.check_unauthenticated(&presented.client_id, ctx.client_addr).map_err(EndpointError::Throttled)?;
    match client_auth::authenticate(ctx.store, Some(presented)).await {
        Ok(app) => {
            let public = app.settings.client_type == crate::store::ClientType::Public;
            limits.check_authenticated(&app.client_id, public, ctx.client_addr).map_err(EndpointError::Throttled)?;
            Ok(app)
        }
        Err(client_auth::AuthFailure::Rejected(rejected)) => {
            limits.charge_failure(&presented.client_id, ctx.client_addr).map_err(EndpointError::Throttled)?;
            Err(rejected.into())
        }
        Err(failure) => Err(failure.into()),
    }
}

/// Fresh tokens, as the store keeps them and as the client receives them.
pub(crate) struct Minted {
    pub tokens: NewTokens,
    pub response: TokenResponse,
}

/// Makes a new access token with `scope` for `user_id` (none: the client's own), and a
/// refresh token covering `refresh_scope` when one is given (in a new family; rotation
/// puts it in the old one). The access token is a random string, or a signed JWT for an
/// application that chose that format; either way the store keeps only its hash.
pub(crate) async fn mint(
    ctx: &Context<'_>,
    app: &Application,
    user_id: Option<i64>,
    scope: &ScopeSet,
    refresh_scope: Option<&ScopeSet>,
) -> Result<Minted, EndpointError> {
    let expires_in = ctx.settings.access_token_expire_seconds;
    let expires_at = ctx.now + i64::from(expires_in);
    let access = match app.settings.access_token_format {
        AccessTokenFormat::Opaque => Secret::generate(),
        AccessTokenFormat::Jwt => {
            let claims = AccessTokenClaims {
                iss: ctx.issuer,
                exp: expires_at,
                aud: ctx.settings.jwt_audience(ctx.issuer),
                sub: user_id.map_or_else(|| app.client_id.clone(), |id| id.to_string()),
                client_id: &app.client_id,
                iat: ctx.now,
                jti: random_string(16),
                scope: scope.to_string(),
            };
            let target = ClaimsFor { target: ClaimsTarget::AccessToken, app, user_id, scope };
            let claims = with_extra(&claims, ctx.hooks.extra_claims(target).await?)?;
            // RFC 9068 §2.1: "Resource servers MUST verify that the typ header value is
            // "at+jwt" or "application/at+jwt"", so ID tokens cannot pass for these.
            Secret::new(ctx.sign(app.settings.algorithm, "at+jwt", &claims).await?)
        }
    };
    let refresh = refresh_scope.map(|granted| (Secret::generate(), granted.to_string()));
    let refresh_expiry = match ctx.settings.refresh_token_expire_seconds {
        0 => None,
        seconds => Some(ctx.now + i64::from(seconds)),
    };
    let tokens = NewTokens {
        application_id: app.id,
        user_id,
        scope: scope.to_string(),
        created_at: ctx.now,
        access_hash: access.hash(),
        access_expires_at: expires_at,
        code_id: None,
        refresh: refresh.as_ref().map(|(secret, granted)| NewRefresh {
            hash: secret.hash(),
            expires_at: refresh_expiry,
            family: random_string(16),
            scope: granted.clone(),
        }),
    };
    let response = TokenResponse {
        access_token: access.expose().to_owned(),
        token_type: "Bearer",
        expires_in,
        scope: scope.to_string(),
        refresh_token: refresh.map(|(secret, _)| secret.expose().to_owned()),
        id_token: None,
    };
    Ok(Minted { tokens, response })
}

/// A JWT access token's claims (RFC 9068 §2.2): `iss`, `exp`, `aud`, `sub`,
/// `client_id`, `iat` and `jti` are required; `scope` is there because a token
/// "issued as the result of a request that included a scope parameter … SHOULD
/// include the scope claim" (§2.2.3), and Portcullis always grants a scope. `sub` is
/// the user's id as a string, or, for a token the client holds for itself, "the client
/// identifier of the client" (§2.2).
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    exp: i64,
    aud: &'a str,
    sub: String,
    client_id: &'a str,
    iat: i64,
    jti: String,
    scope: String,
}
