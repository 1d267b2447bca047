use portcullis_axum::ScopeSet;

use super::{issued, mint, Context, Coverage, GrantError, Granted};
use crate::oauth::OAuthError;
use crate::proto::{Resources, TokenGrant};
use crate::store::Application;

/// RFC 6749 §4.4, for a client allowed it (a confidential one: §4.4 "The client
/// credentials grant type MUST only be used by confidential clients."). "A refresh
/// token SHOULD NOT be included." (§4.4.3)
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    requested: Option<ScopeSet>,
    resource: Result<Resources, OAuthError>,
) -> Result<Granted, GrantError> {
    let scope = ctx.scope(requested, app)?;
    // RFC 8707 §2.2: a client asking for its own token names the resources directly.
    let resources = resource?;
    let minted = mint(ctx, app, None, Coverage { scope: &scope, resources: &resources }, None).await?;
    ctx.store.insert_token(&minted.tokens).await?;
    Ok(Granted { response: minted.response, issued: issued(TokenGrant::ClientCredentials, app, minted.tokens) })
}
