use super::request::{AuthorizationCode, CodeVerifier};
use super::{issued, mint, Context, Coverage, GrantError, Granted};
use crate::oauth::{pkce, redirect, scope, target, OAuthError};
use crate::oidc::claims::IdTokenInput;
use crate::proto::{Resources, TokenGrant};
use crate::store::{Application, AuditKind, RedeemOutcome, User};

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6), for a client allowed it.
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    presented: &AuthorizationCode,
    redirect_uri: Option<&str>,
    code_verifier: Option<&CodeVerifier>,
    resource: Result<Resources, OAuthError>,
) -> Result<Granted, GrantError> {
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid, expired or already used");
    // "ensure that the authorization code was issued to the authenticated confidential
    // client, or if the client is public, ensure that the code was issued to "client_id""
    let code = ctx.store.code(&presented.hash()).await?.filter(|c| c.application_id == app.id).ok_or_else(invalid)?;

    // RFC 6749 §4.1.3: the same redirect_uri as the authorization request.
    if !redirect::code_redirect_matches(&code.redirect_uri, &app.settings.redirect_uris, redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request").into());
    }

    match (&code.code_challenge, code_verifier) {
        (None, None) => {}
        // A verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(OAuthError::invalid_grant("no code challenge was sent for this code").into()),
        (Some(_), None) => return Err(OAuthError::invalid_request("missing parameter: code_verifier").into()),
        (Some(pkce), Some(verifier)) => {
            // RFC 7636 §4.6: "If the values are not equal, an error response indicating
            // "invalid_grant" as described in Section 4.1.3 of [RFC6749] MUST be returned."
            if !pkce::verify(pkce.method, &pkce.challenge, verifier.expose()) {
                return Err(OAuthError::invalid_grant("the code verifier does not match the code challenge").into());
            }
        }
    }

    let user = User::from(ctx.accounts.user(code.user_id).await?.ok_or_else(invalid)?);
    let scope = scope::stored(&code.scope)?;
    // RFC 8707 §2.2: the token request may name fewer of the resources the user
    // authorized; the refresh token keeps them all.
    let authorized = Resources::from_stored(&code.resource);
    let audience = target::narrow(&authorized, &resource?)?;
    let access = Coverage { scope: &scope, resources: &audience };
    let grant = Coverage { scope: &scope, resources: &authorized };
    let mut minted = mint(ctx, app, Some(code.user_id), access, Some(grant)).await?;
    minted.tokens.code_id = Some(code.id);
    // Signed before the code is spent: a signing failure then leaves the code usable.
    minted.response.id_token = ctx
        .id_token(IdTokenInput {
            app,
            user: &user,
            scope: &scope,
            nonce: code.nonce.as_deref(),
            auth_time: code.auth_time,
            access_token: Some(&minted.response.access_token),
            code: None,
        })
        .await?;
    match ctx.store.redeem_code(code.id, ctx.now, &minted.tokens).await? {
        RedeemOutcome::Issued => {
            Ok(Granted { response: minted.response, issued: issued(TokenGrant::AuthorizationCode, app, minted.tokens) })
        }
        RedeemOutcome::Replayed => {
            tracing::warn!(client_id = %app.client_id, "authorization code replayed: its tokens are revoked");
            let event = ctx.event(AuditKind::CodeReplayed, app, Some(code.user_id)).detail(format!(
                "authorization code {} was presented again: the tokens it bought are revoked",
                code.id
            ));
            let error =
                OAuthError::invalid_grant("the authorization code was already used; its tokens are now revoked");
            Err(GrantError::audited(error, event))
        }
        RedeemOutcome::Expired => Err(OAuthError::invalid_grant("the authorization code has expired").into()),
    }
}
