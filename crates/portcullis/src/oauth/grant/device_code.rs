use super::request::DeviceCode;
use super::{issued, mint, Context, Coverage, GrantError, Granted};
use crate::oauth::{scope, target, ErrorCode, OAuthError};
use crate::proto::{Resources, TokenGrant};
use crate::store::{Application, DevicePoll};

/// RFC 8628 §3.4 and §3.5: the device polls with its device code until the user has
/// answered.
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    device_code: &DeviceCode,
    resource: Result<Resources, OAuthError>,
) -> Result<Granted, GrantError> {
    // Another client's device code is as good as unknown.
    let grant = ctx
        .store
        .device_grant_by_code(&device_code.hash())
        .await?
        .filter(|g| g.application_id == app.id)
        .ok_or_else(|| OAuthError::invalid_grant("the device code is invalid"))?;
    let scope = scope::stored(&grant.scope)?;
    // RFC 8707 §2.2: the device's token request may name fewer of the resources it
    // asked for at the device authorization endpoint; the refresh token keeps them all.
    let authorized = Resources::from_stored(&grant.resource);
    let audience = target::narrow(&authorized, &resource?)?;
    let access = Coverage { scope: &scope, resources: &audience };
    // Minted before the poll, for the user who approved if one has, so that the
    // transaction can store them; otherwise they are dropped. If the approval lands
    // between this read and the poll, the store refuses tokens minted for nobody and
    // answers "pending": the next poll gets them.
    let minted =
        mint(ctx, app, grant.user_id, access, Some(Coverage { scope: &scope, resources: &authorized })).await?;
    let answer = |code, description: &'static str| Err(OAuthError::new(code, description).into());
    match ctx.store.poll_device_grant(grant.id, ctx.now, &minted.tokens).await? {
        DevicePoll::Issued => {
            Ok(Granted { response: minted.response, issued: issued(TokenGrant::DeviceCode, app, minted.tokens) })
        }
        // §3.5: "authorization_pending: The authorization request is still pending as
        // the end user hasn't yet completed the user-interaction steps".
        DevicePoll::Pending => answer(ErrorCode::AuthorizationPending, "the user has not answered yet"),
        // "slow_down: A variant of "authorization_pending", the authorization request is
        // still pending and polling should continue, but the interval MUST be increased
        // by 5 seconds for this and all subsequent requests."
        DevicePoll::SlowDown => answer(ErrorCode::SlowDown, "polling too fast; wait 5 seconds longer between polls"),
        // "access_denied: The authorization request was denied."
        DevicePoll::Denied => answer(ErrorCode::AccessDenied, "the user denied the request"),
        // "expired_token: The "device_code" has expired, and the device authorization
        // session has concluded."
        DevicePoll::Expired => answer(ErrorCode::ExpiredToken, "the device code has expired"),
        DevicePoll::Gone => answer(ErrorCode::InvalidGrant, "the device code was already used"),
    }
}
