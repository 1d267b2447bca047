use super::{mint, Context, TokenResponse};
use crate::limits::LoginThrottle;
use crate::oauth::{EndpointError, OAuthError, Params};
use crate::store::{Application, GrantType};

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
    let throttle = LoginThrottle::new(ctx.store, ctx.login_limits, ctx.now, username, ctx.client_address);
    throttle.check().await?.map_err(EndpointError::Throttled)?;
    let Some(user) = ctx.accounts.authenticate(username, presented).await? else {
        throttle.failed().await?;
        return Err(OAuthError::invalid_grant("invalid username or password").into());
    };
    throttle.succeeded().await?;
    let minted = mint(ctx, app, Some(user.id), &scope, Some(&scope)).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    ctx.issued(app, &minted.tokens, "password").await;
    Ok(minted.response)
}
