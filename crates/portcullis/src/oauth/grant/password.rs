use super::{mint, Context, TokenResponse};
use crate::oauth::{scope, EndpointError, OAuthError, Params};
use crate::password;
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
    let presented = params.require("password")?.to_owned();
    let scope = scope::resolve(params.get("scope"), ctx.settings, app)?;
    let user = ctx.store.user_by_username(username).await?.filter(|u| u.is_active);
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // An unknown or inactive user costs the same work (see `password::verify`).
    let matches =
        password::verify_async(presented, stored).await.map_err(|e| EndpointError::Internal(e.to_string()))?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(OAuthError::invalid_grant("invalid username or password").into());
    };
    let minted = mint(ctx, app, Some(user.id), &scope, Some(&scope)).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    Ok(minted.response)
}
