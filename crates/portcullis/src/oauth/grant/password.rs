use portcullis_axum::ScopeSet;

use super::request::Password;
use super::{issued, mint, Context, Coverage, GrantError, Granted};
use crate::http::limits::LoginThrottle;
use crate::oauth::{EndpointError, OAuthError};
use crate::proto::{Resources, TokenGrant};
use crate::store::{Application, AuditKind};

/// RFC 6749 §4.3, the resource owner password credentials grant, for a client allowed
/// it.
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    username: &str,
    password: &Password,
    requested: Option<ScopeSet>,
    resource: Result<Resources, OAuthError>,
) -> Result<Granted, GrantError> {
    let scope = ctx.scope(requested, app)?;
    // Checked before the password, so a request that cannot succeed costs no attempt.
    let resources = resource?;
    // The login page's limits on failures hold here too, or guessing would move to
    // this grant.
    let throttle = LoginThrottle::new(ctx.store, &ctx.config.limits, ctx.now, username, ctx.client_addr);
    // The account tried, when it exists, rather than the username: a password typed
    // into the wrong field must not reach the log.
    let tried = || async { ctx.store.user_by_username(username).await.map(|u| u.map(|u| u.id)) };
    let attempt = match throttle.begin().await? {
        Ok(attempt) => attempt,
        Err(throttled) => {
            let event = ctx.event(AuditKind::LoginThrottled, app, tried().await?);
            let event = event.detail("password grant: too many failed logins for this account or address");
            return Err(GrantError::audited(EndpointError::Throttled(throttled), event));
        }
    };
    let Some(user) = ctx.accounts.authenticate(username, password.expose()).await? else {
        // The attempt's place in the count stays: it is the failure.
        drop(attempt);
        let tried = tried().await?;
        let event = ctx.event(AuditKind::LoginFailed, app, tried).detail("password grant: wrong username or password");
        return Err(GrantError::audited(OAuthError::invalid_grant("invalid username or password"), event));
    };
    throttle.succeeded(attempt).await?;
    let coverage = Coverage { scope: &scope, resources: &resources };
    let minted = mint(ctx, app, Some(user.id), coverage, Some(coverage)).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    Ok(Granted { response: minted.response, issued: issued(TokenGrant::Password, app, minted.tokens) })
}
