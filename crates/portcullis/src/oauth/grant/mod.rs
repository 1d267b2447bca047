//! The token endpoint's grants (RFC 6749 §4, §6; RFC 8628 §3.4), one module each, and
//! the minting of the tokens they all issue.
//!
//! A grant decides and stores; it records nothing. It returns what it issued
//! ([`Granted`]) or why not ([`GrantError`], with the security event to record, if
//! any), and the endpoint hands that to [`Records`], where every issuance and
//! refusal is counted, logged and told to the host's hooks.

mod authorization_code;
mod client_credentials;
mod device_code;
mod outcome;
mod password;
mod refresh_token;
mod request;

use std::fmt;
use std::net::IpAddr;

use portcullis_axum::wire::{AccessClaims, Audience};
use portcullis_axum::ScopeSet;
use serde::Serialize;

pub(crate) use self::outcome::{GrantError, Granted, Records};
use self::request::TokenRequest;
use super::{client_auth, scope, target, EndpointError, OAuthError, Params};
use crate::accounts::Accounts;
use crate::config::Config;
use crate::crypto::{random_string, Secret};
use crate::hooks::{with_extra, ClaimsFor, ClaimsTarget, Hooks, TokenIssued};
use crate::http::limits::RateLimits;
use crate::oidc::claims::{id_token_claims, IdTokenInput};
use crate::oidc::keys::{KeyError, KeyRing};
use crate::proto::{AccessTokenFormat, ClientType, Resources, SigningAlgorithm, TokenGrant};
use crate::store::{Application, AuditKind, NewAuditEvent, NewRefresh, NewTokens, Store};

/// What a grant needs from the server: storage, accounts, keys, the host's hooks, the
/// settings, and the request's time and address.
pub(crate) struct Context<'a> {
    pub store: &'a dyn Store,
    /// Who may log in.
    pub accounts: &'a dyn Accounts,
    /// Signs ID tokens and JWT access tokens.
    pub keys: &'a KeyRing,
    /// The host's extra claims and scope policy (none for the standalone server).
    pub hooks: &'a dyn Hooks,
    /// The settings: `oauth2` for lifetimes and scopes, `oidc` for the issuer, `limits`
    /// for failed logins, which the password grant counts too.
    pub config: &'a Config,
    /// The per-client limit on token requests.
    pub rate_limits: &'a RateLimits,
    pub now: i64,
    /// The address the request came from, for the audit log and the limits on failed
    /// logins.
    pub client_addr: Option<IpAddr>,
}

impl Context<'_> {
    /// An ID token for `input`'s user and application, signed with the algorithm the
    /// application chose, when OpenID Connect is on and the scope has `openid` (Core
    /// §3.1.2.1: "If the openid scope value is not present, the behavior is entirely
    /// unspecified"; Portcullis then issues none).
    pub(crate) async fn id_token(&self, input: IdTokenInput<'_>) -> Result<Option<String>, EndpointError> {
        if !self.config.oidc.enabled || !input.scope.contains("openid") {
            return Ok(None);
        }
        let alg = input.app.settings.algorithm;
        let lifetime = i64::from(self.config.oauth2.access_token_expire_seconds);
        let claims = id_token_claims(&input, &self.config.oidc.issuer, self.now, lifetime, alg);
        let target = ClaimsFor {
            target: ClaimsTarget::IdToken,
            app: input.app,
            user_id: Some(input.user.id),
            scope: input.scope,
        };
        let claims = with_extra(&claims, self.hooks.extra_claims(target).await?)?;
        self.sign(alg, "JWT", &claims).await.map(Some)
    }

    /// The scopes to grant `app` for a request's parsed `scope` parameter: the settings
    /// and the application's allowed scopes decide (see [`scope::resolve`]), then the
    /// host's policy ([`Hooks::allows_scope`]).
    pub(crate) fn scope(&self, requested: Option<ScopeSet>, app: &Application) -> Result<ScopeSet, OAuthError> {
        let scope = scope::resolve(requested, &self.config.oauth2, app)?;
        if !self.hooks.allows_scope(app, &scope) {
            return Err(OAuthError::invalid_scope("the requested scope is not allowed for this client"));
        }
        Ok(scope)
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

/// A successful token answer (RFC 6749 §5.1).
#[derive(Serialize)]
pub(crate) struct TokenResponse {
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

/// Handles one request to the token endpoint, whose body is already parsed. Errors
/// come in this order: the grant type (missing, unsupported), the client's
/// credentials and their authentication, whether the client may use the grant, the
/// grant's parameters, then the grant's own checks.
pub(crate) async fn exchange(
    ctx: &Context<'_>,
    authorization: client_auth::Authorization,
    params: Params,
) -> Result<Granted, GrantError> {
    let grant = request::grant_type(&params)?;
    let credentials = client_auth::credentials(authorization, &params)?;
    let app = authenticate(ctx, credentials).await?;
    if !grant.is_allowed_for(app.settings.client_type, &app.settings.grant_types) {
        return Err(OAuthError::unauthorized_client(not_allowed(grant)).into());
    }
    // RFC 8707 §2: every grant may name resources. Each grant reads the answer where its
    // errors come: after the grant itself is known good, as for the scope of a refresh.
    let resource = target::requested(params.resources(), &ctx.config.oauth2);
    match TokenRequest::parse(grant, params)? {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
            authorization_code::grant(ctx, &app, &code, redirect_uri.as_deref(), code_verifier.as_ref(), resource).await
        }
        TokenRequest::RefreshToken { refresh_token, scope } => {
            refresh_token::grant(ctx, &app, refresh_token, scope, resource).await
        }
        TokenRequest::Password { username, password, scope } => {
            password::grant(ctx, &app, &username, &password, scope, resource).await
        }
        TokenRequest::ClientCredentials { scope } => client_credentials::grant(ctx, &app, scope, resource).await,
        TokenRequest::DeviceCode { device_code } => device_code::grant(ctx, &app, &device_code, resource).await,
    }
}

/// RFC 6749 §5.2 `unauthorized_client`'s description for `grant`.
fn not_allowed(grant: TokenGrant) -> &'static str {
    match grant {
        TokenGrant::AuthorizationCode => "this client may not use the authorization code grant",
        TokenGrant::Implicit => "this client may not use the implicit grant",
        TokenGrant::Password => "this client may not use the password grant",
        TokenGrant::ClientCredentials => "this client may not use the client_credentials grant",
        TokenGrant::RefreshToken => "this client may not use the refresh token grant",
        TokenGrant::DeviceCode => "this client may not use the device code grant",
    }
}

/// Authenticates the client of a token request, within the rate limits: a stranger
/// who knows only a client's id (it is in every authorization URL) uses up a bucket of
/// its own, for that id and its address, never the client's (see [`RateLimits`]).
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
            let public = app.settings.client_type == ClientType::Public;
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

/// What the hooks, the metrics and the audit log learn of `tokens`, stored for `app`
/// by `grant`.
pub(crate) fn issued(grant: TokenGrant, app: &Application, tokens: NewTokens) -> TokenIssued {
    TokenIssued {
        client_id: app.client_id.clone(),
        user_id: tokens.user_id,
        scope: tokens.scope,
        grant,
        expires_at: tokens.access_expires_at,
        refresh_token: tokens.refresh.is_some(),
    }
}

/// What a token covers: its scopes and the resources it is bound to (RFC 8707; none:
/// not bound). For a refresh token, the grant's: the most a later refresh may ask for.
#[derive(Clone, Copy)]
pub(crate) struct Coverage<'a> {
    pub scope: &'a ScopeSet,
    pub resources: &'a Resources,
}

/// Fresh tokens, as the store keeps them and as the client receives them.
pub(crate) struct Minted {
    pub tokens: NewTokens,
    pub response: TokenResponse,
}

/// Makes a new access token covering `access` for `user_id` (none: the client's own),
/// and a refresh token covering `refresh` when one is given (in a new family; rotation
/// puts it in the old one). The access token is a random string, or a signed JWT for an
/// application that chose that format; either way the store keeps only its hash.
pub(crate) async fn mint(
    ctx: &Context<'_>,
    app: &Application,
    user_id: Option<i64>,
    access: Coverage<'_>,
    refresh: Option<Coverage<'_>>,
) -> Result<Minted, EndpointError> {
    let scope = access.scope;
    let settings = &ctx.config.oauth2;
    let issuer = ctx.config.oidc.issuer.as_str();
    let expires_in = settings.access_token_expire_seconds;
    let expires_at = ctx.now + i64::from(expires_in);
    let token = match app.settings.access_token_format {
        AccessTokenFormat::Opaque => Secret::generate(),
        AccessTokenFormat::Jwt => {
            // RFC 9068 §2.2: `sub` is the user's id, or for a token the client holds for
            // itself, "the client identifier of the client". `scope` is there because a
            // token "issued as the result of a request that included a scope parameter …
            // SHOULD include the scope claim" (§2.2.3), and Portcullis always grants one.
            let claims = AccessClaims {
                iss: issuer.to_owned(),
                exp: expires_at,
                aud: jwt_audience(access.resources, settings.jwt_audience(issuer)),
                sub: user_id.map_or_else(|| app.client_id.clone(), |id| id.to_string()),
                client_id: app.client_id.clone(),
                iat: Some(ctx.now),
                jti: Some(random_string(16)),
                scope: Some(scope.to_string()),
                nbf: None,
                username: None,
            };
            let target = ClaimsFor { target: ClaimsTarget::AccessToken, app, user_id, scope };
            let claims = with_extra(&claims, ctx.hooks.extra_claims(target).await?)?;
            // RFC 9068 §2.1: "Resource servers MUST verify that the typ header value is
            // "at+jwt" or "application/at+jwt"", so ID tokens cannot pass for these.
            Secret::new(ctx.sign(app.settings.algorithm, "at+jwt", &claims).await?)
        }
    };
    let refresh = refresh.map(|granted| (Secret::generate(), granted.scope.to_string(), granted.resources.to_string()));
    let refresh_expiry = match settings.refresh_token_expire_seconds {
        0 => None,
        seconds => Some(ctx.now + i64::from(seconds)),
    };
    let tokens = NewTokens {
        application_id: app.id,
        user_id,
        scope: scope.to_string(),
        audience: access.resources.to_string(),
        created_at: ctx.now,
        access_hash: token.hash(),
        access_expires_at: expires_at,
        code_id: None,
        refresh: refresh.as_ref().map(|(secret, scope, resource)| NewRefresh {
            hash: secret.hash(),
            expires_at: refresh_expiry,
            family: random_string(16),
            scope: scope.clone(),
            resource: resource.clone(),
        }),
    };
    let response = TokenResponse {
        access_token: token.expose().to_owned(),
        token_type: "Bearer",
        expires_in,
        scope: scope.to_string(),
        refresh_token: refresh.map(|(secret, ..)| secret.expose().to_owned()),
        id_token: None,
    };
    Ok(Minted { tokens, response })
}

/// A JWT access token's `aud` (RFC 9068 §3): "If the request includes a resource
/// parameter (as defined in [RFC8707]), the resulting JWT access token aud claim SHOULD
/// have the same value as the resource parameter in the request"; without one, "the
/// authorization server MUST use a default resource indicator in the aud claim".
fn jwt_audience(resources: &Resources, default: &str) -> Audience {
    match resources.len() {
        0 => Audience::One(default.to_owned()),
        1 => Audience::One(resources.iter().collect()),
        _ => Audience::Many(resources.to_vec()),
    }
}
