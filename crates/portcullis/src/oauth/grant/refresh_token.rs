use portcullis_axum::ScopeSet;

use super::request::RefreshToken;
use super::{issued, mint, Context, Coverage, GrantError, Granted};
use crate::oauth::{scope, target, OAuthError};
use crate::proto::{Resources, TokenGrant};
use crate::store::{Application, AuditKind, RefreshExchange, RefreshOutcome};

/// RFC 6749 §6, with rotation, a grace period and reuse detection (OAuth 2.0 Security
/// BCP, RFC 9700 §4.14.2: "If a refresh token is compromised and subsequently used by
/// both the attacker and the legitimate client, one of them will present an invalidated
/// refresh token, which will inform the authorization server of the breach.")
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    presented: RefreshToken,
    requested: Result<Option<ScopeSet>, OAuthError>,
    resource: Result<Resources, OAuthError>,
) -> Result<Granted, GrantError> {
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    // A token of another client is answered exactly as an unknown one (RFC 6749 §5.2:
    // "was issued to another client").
    let record =
        ctx.store.refresh_token(&presented.hash()).await?.filter(|r| r.application_id == app.id).ok_or_else(invalid)?;
    let granted = scope::stored(&record.scope)?;
    // Narrowed to what the application is allowed now: a scope taken from it since the
    // grant does not live on through refreshes.
    let settings = &ctx.config.oauth2;
    let scope::Refreshed { access: scope, grant } = scope::refresh(requested?, &granted, settings, app)?;
    if !ctx.hooks.allows_scope(app, &scope) {
        return Err(OAuthError::invalid_scope("the requested scope is not allowed for this client").into());
    }
    // RFC 8707 §2.2: a refresh may ask for fewer of the grant's resources, and the new
    // refresh token keeps them all, as it keeps the grant's scope.
    let authorized = Resources::from_stored(&record.resource);
    let audience = target::narrow(&authorized, &resource?)?;
    if ctx.accounts.user(record.user_id).await?.is_none() {
        return Err(invalid().into());
    }
    let rotate = settings.rotate_refresh_token;
    let access = Coverage { scope: &scope, resources: &audience };
    let successor = rotate.then_some(Coverage { scope: &grant, resources: &authorized });
    let mut minted = mint(ctx, app, Some(record.user_id), access, successor).await?;
    let exchange = RefreshExchange {
        old_id: record.id,
        now: ctx.now,
        grace_seconds: i64::from(settings.refresh_token_grace_period_seconds),
        rotate,
        new: minted.tokens,
    };
    match ctx.store.exchange_refresh_token(&exchange).await? {
        RefreshOutcome::Issued => {}
        RefreshOutcome::Reused => {
            tracing::warn!(client_id = %app.client_id, family_member = record.id, "refresh token reuse: grant revoked");
            let event = ctx.event(AuditKind::RefreshReuseDetected, app, Some(record.user_id)).detail(format!(
                "refresh token {} was presented again after rotation: every token of its grant is revoked",
                record.id
            ));
            let error = OAuthError::invalid_grant("the refresh token was already used; its grant is now revoked");
            return Err(GrantError::audited(error, event));
        }
        RefreshOutcome::Dead => return Err(invalid().into()),
    }
    if !rotate {
        // RFC 6749 §6 lets the server keep the refresh token; hand it back unchanged.
        minted.response.refresh_token = Some(presented.into_exposed());
    }
    Ok(Granted { response: minted.response, issued: issued(TokenGrant::RefreshToken, app, exchange.new) })
}
