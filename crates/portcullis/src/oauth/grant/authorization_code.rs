use portcullis_axum::ScopeSet;

use super::{mint, Context, TokenResponse};
use crate::crypto::TokenHash;
use crate::oauth::{pkce, redirect, EndpointError, OAuthError, Params};
use crate::oidc::claims::IdTokenInput;
use crate::proto::GrantType;
use crate::store::{Application, AuditKind, RedeemOutcome, StoreError, User};

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6).
pub(super) async fn grant(
    ctx: &Context<'_>,
    app: &Application,
    params: &Params,
) -> Result<TokenResponse, EndpointError> {
    if !app.allows_grant(GrantType::AuthorizationCode) && !app.allows_grant(GrantType::OpenidHybrid) {
        return Err(OAuthError::unauthorized_client("this client may not use the authorization code grant").into());
    }
    let presented = params.require("code")?;
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid, expired or already used");
    // "ensure that the authorization code was issued to the authenticated confidential
    // client, or if the client is public, ensure that the code was issued to "client_id""
    let code =
        ctx.store.code(&TokenHash::of(presented)).await?.filter(|c| c.application_id == app.id).ok_or_else(invalid)?;

    // RFC 6749 §4.1.3: the same redirect_uri as the authorization request.
    if !redirect::code_redirect_matches(&code.redirect_uri, &app.settings.redirect_uris, params.get("redirect_uri")) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request").into());
    }

    match (&code.code_challenge, params.get("code_verifier")) {
        (None, None) => {}
        // A verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(OAuthError::invalid_grant("no code challenge was sent for this code").into()),
        (Some(_), None) => return Err(OAuthError::invalid_request("missing parameter: code_verifier").into()),
        (Some(pkce), Some(verifier)) => {
            // RFC 7636 §4.6: "If the values are not equal, an error response indicating
            // "invalid_grant" as described in Section 4.1.3 of [RFC6749] MUST be returned."
            if !pkce::verify(pkce.method, &pkce.challenge, verifier) {
                return Err(OAuthError::invalid_grant("the code verifier does not match the code challenge").into());
            }
        }
    }

    let user = User::from(ctx.accounts.user(code.user_id).await?.ok_or_else(invalid)?);
    let scope = ScopeSet::parse(&code.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut minted = mint(ctx, app, Some(code.user_id), &scope, Some(&scope)).await?;
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
            ctx.issued(app, &minted.tokens, "authorization_code").await;
            Ok(minted.response)
        }
        RedeemOutcome::Replayed => {
            tracing::warn!(client_id = %app.client_id, "authorization code replayed: its tokens are revoked");
            let event = ctx.event(AuditKind::CodeReplayed, app, Some(code.user_id));
            ctx.audit
                .record(event.detail(format!(
                    "authorization code {} was presented again: the tokens it bought are revoked",
                    code.id
                )))
                .await;
            Err(OAuthError::invalid_grant("the authorization code was already used; its tokens are now revoked").into())
        }
        RedeemOutcome::Expired => Err(OAuthError::invalid_grant("the authorization code has expired").into()),
    }
}
