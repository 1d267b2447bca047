use super::{mint, Context, TokenResponse};
use crate::http::limits::LoginThrottle;
use crate::oauth::{EndpointError, OAuthError, Params};
use crate::store::{Application, AuditKind, GrantType};

/// RFC 6749 §4.3, the resource owner password credentials grant.
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    params: &Params,
) -> Result<TokenResponse, EndpointError> {
    if !app.allows_grant(GrantType::Password) {
        return Err(OAuthError::unauthorized_client("this client may not use the password grant").into());
    }
    let username = params.require("username")?;
    let presented = params.require("password")?;
    let scope = ctx.scope(params.get("scope"), app)?;
    // The login page's limits on failures hold here too, or guessing would move to
    // this grant.
    let throttle = LoginThrottle::new(ctx.store, ctx.login_limits, ctx.now, username, ctx.client_addr);
    // The account tried, when it exists, rather than the username: a password typed
    // into the wrong field must not reach the log.
    let tried = || async { ctx.store.user_by_username(username).await.map(|u| u.map(|u| u.id)) };
    let attempt = match throttle.begin().await? {
        Ok(attempt) => attempt,
        Err(throttled) => {
            let event = ctx.event(AuditKind::LoginThrottled, app, tried().await?);
            ctx.audit.record(event.detail("password grant: too many failed logins for this account or address")).await;
            return Err(EndpointError::Throttled(throttled));
        }
    };
    let Some(user) = ctx.accounts.authenticate(username, presented).await? else {
        // The attempt's place in the count stays: it is the failure.
        drop(attempt);
        let tried = tried().await?;
        let event = ctx.event(AuditKind::LoginFailed, app, tried);
        ctx.audit.record(event.detail("password grant: wrong username or password")).await;
        return Err(OAuthError::invalid_grant("invalid username or password").into());
    };
    throttle.succeeded(attempt).await?;
    let minted = mint(ctx, app, Some(user.id), &scope, Some(&scope)).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    ctx.issued(app, &minted.tokens, "password").await;
    Ok(minted.response)
}
