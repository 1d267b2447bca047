//! What a grant returns, and the one place where the endpoints record it.

use super::{Context, TokenResponse};
use crate::audit::Audit;
use crate::hooks::{Hooks, TokenIssued};
use crate::http::metrics::Metrics;
use crate::oauth::authorize::{Approved, Redirect};
use crate::oauth::{EndpointError, OAuthError};
use crate::store::{AuditKind, NewAuditEvent, StoreError};

/// Tokens a grant issued and stored: the answer that carries them, and what the
/// records learn of them (no token value).
#[derive(Debug)]
pub(crate) struct Granted {
    pub response: TokenResponse,
    pub issued: TokenIssued,
}

/// A token request that got no tokens: the answer, and the security event to record
/// before it goes out (a replayed code, a reused refresh token, a failed or throttled
/// login). The event is boxed: it is rare, and the error travels through every `?`.
#[derive(Debug)]
pub(crate) struct GrantError {
    pub error: EndpointError,
    pub event: Option<Box<NewAuditEvent>>,
}

impl GrantError {
    /// `error`, with `event` for the audit log.
    pub(crate) fn audited(error: impl Into<EndpointError>, event: NewAuditEvent) -> Self {
        Self { error: error.into(), event: Some(Box::new(event)) }
    }
}

impl From<EndpointError> for GrantError {
    fn from(error: EndpointError) -> Self {
        Self { error, event: None }
    }
}

impl From<OAuthError> for GrantError {
    fn from(error: OAuthError) -> Self {
        EndpointError::from(error).into()
    }
}

impl From<StoreError> for GrantError {
    fn from(error: StoreError) -> Self {
        EndpointError::from(error).into()
    }
}

/// Where the token endpoint, and the authorization endpoint for the implicit flow,
/// record what they issued or refused: the count of tokens by grant, the audit log and
/// the host's [`Hooks::token_issued`].
pub(crate) struct Records<'a> {
    pub metrics: &'a Metrics,
    pub audit: &'a Audit,
    pub hooks: &'a dyn Hooks,
}

impl Records<'_> {
    /// Records a token request's outcome, and gives the answer to send.
    pub(crate) async fn exchanged(
        &self,
        ctx: &Context<'_>,
        outcome: Result<Granted, GrantError>,
    ) -> Result<TokenResponse, EndpointError> {
        match outcome {
            Ok(Granted { response, issued }) => {
                self.issued(ctx, issued).await;
                Ok(response)
            }
            Err(GrantError { error, event }) => {
                if let Some(event) = event {
                    self.audit.record(*event).await;
                }
                Err(error)
            }
        }
    }

    /// Records what an approved authorization request issued, and gives where to send
    /// the browser.
    pub(crate) async fn approved(&self, ctx: &Context<'_>, approved: Approved) -> Redirect {
        if let Some(issued) = approved.issued {
            self.issued(ctx, issued).await;
        }
        approved.redirect
    }

    /// Every issuance, by any grant or the implicit flow, comes through here once.
    async fn issued(&self, ctx: &Context<'_>, issued: TokenIssued) {
        self.metrics.token_issued(issued.grant);
        let refresh = if issued.refresh_token { ", with a refresh token" } else { "" };
        // In the background: the answer waits for the tokens' commit, not the event's.
        self.audit.record_soon(
            NewAuditEvent::new(AuditKind::TokenIssued, ctx.now)
                .user(issued.user_id)
                .client(&issued.client_id)
                .addr(ctx.client_addr)
                .detail(format!("grant {}, scope \"{}\"{refresh}", issued.grant, issued.scope)),
        );
        self.hooks.token_issued(&issued).await;
    }
}
