use super::{mint, Context, TokenResponse};
use crate::oauth::{EndpointError, OAuthError, Params};
use crate::store::{Application, ClientType, GrantType};

/// RFC 6749 §4.4. "The client credentials grant type MUST only be used by confidential
/// clients." (§4.4) and "A refresh token SHOULD NOT be included." (§4.4.3)
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    params: &Params,
) -> Result<TokenResponse, EndpointError> {
    if app.settings.client_type != ClientType::Confidential || !app.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client("this client may not use the client_credentials grant").into());
    }
    let scope = ctx.scope(params.get("scope"), app)?;
    let minted = mint(ctx, app, None, &scope, None).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    ctx.issued(app, &minted.tokens, "client_credentials").await;
    Ok(minted.response)
}
