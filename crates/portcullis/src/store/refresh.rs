//! The refresh token exchange rule (RFC 6749 §6, with rotation and reuse detection as
//! RFC 9700 §4.14.2 describes them), as a pure function over the stored token. The
//! store applies it under the token's row lock, so that of concurrent exchanges of one
//! token each sees what the one before it did.

use super::RefreshTokenRecord;

/// What to do with a refresh token presented at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshVerdict {
    /// Never exchanged (or rotation is off): exchange it.
    Exchange,
    /// Rotated out less than the grace period ago, and its successor not yet used: a
    /// client that lost the answer is retrying. Replace the successor it never
    /// received.
    GraceRetry,
    /// Rotated out earlier than that, or its successor has been used since: someone is
    /// replaying it. Revoke the whole family.
    Reuse,
    /// Revoked or expired: nothing to do.
    Dead,
}

/// The verdict on `token` presented at `now`, given the grace period
/// (`oauth2.refresh_token_grace_period_seconds`, `0` for none) and whether a token
/// rotated from it has itself been exchanged (`successor_exchanged`, which matters only
/// for a token that was rotated out).
pub(crate) fn exchange_verdict(
    token: &RefreshTokenRecord,
    now: i64,
    grace_seconds: i64,
    successor_exchanged: bool,
) -> RefreshVerdict {
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| now >= at) {
        return RefreshVerdict::Dead;
    }
    match token.rotated_at {
        None => RefreshVerdict::Exchange,
        // A successor that was itself exchanged means the chain moved on: the presenter
        // is not the client retrying a lost answer.
        Some(at) if grace_seconds > 0 && now - at <= grace_seconds && !successor_exchanged => {
            RefreshVerdict::GraceRetry
        }
        Some(_) => RefreshVerdict::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(rotated_at: Option<i64>, revoked_at: Option<i64>, expires_at: Option<i64>) -> RefreshTokenRecord {
        RefreshTokenRecord {
            resource: String::new(),
            id: 1,
            application_id: 1,
            user_id: 1,
            access_token_id: None,
            family: "f".into(),
            parent_id: None,
            scope: "read".into(),
            created_at: 0,
            expires_at,
            rotated_at,
            revoked_at,
        }
    }

    /// RFC 6749 §6: "the authorization server MUST [...] validate the refresh token".
    /// A revoked or expired one buys nothing, rotated or not.
    #[test]
    fn revoked_and_expired_tokens_are_dead() {
        assert_eq!(exchange_verdict(&token(None, Some(50), None), 100, 0, false), RefreshVerdict::Dead);
        assert_eq!(exchange_verdict(&token(None, None, Some(100)), 100, 0, false), RefreshVerdict::Dead);
        assert_eq!(exchange_verdict(&token(Some(90), Some(95), None), 100, 60, false), RefreshVerdict::Dead);
        assert_eq!(exchange_verdict(&token(None, None, Some(101)), 100, 0, false), RefreshVerdict::Exchange);
    }

    /// RFC 9700 §4.14.2: "the authorization server issues a new refresh token with
    /// every access token refresh response. The previous refresh token is invalidated
    /// but information about the relationship is retained [...] If a refresh token is
    /// compromised and subsequently used by both the attacker and the legitimate
    /// client, one of them will present an invalidated refresh token, which will inform
    /// the authorization server of the breach."
    #[test]
    fn a_rotated_out_token_presented_again_is_reuse() {
        assert_eq!(exchange_verdict(&token(None, None, None), 100, 0, false), RefreshVerdict::Exchange);
        assert_eq!(exchange_verdict(&token(Some(90), None, None), 100, 0, false), RefreshVerdict::Reuse);
        assert_eq!(exchange_verdict(&token(Some(90), None, None), 100, 0, true), RefreshVerdict::Reuse);
    }

    /// Within the grace period a retry replaces the successor the client never
    /// received; once that successor has been used, or the period is over, it is reuse.
    #[test]
    fn the_grace_period_forgives_a_lost_answer_only() {
        assert_eq!(exchange_verdict(&token(Some(90), None, None), 100, 10, false), RefreshVerdict::GraceRetry);
        assert_eq!(exchange_verdict(&token(Some(89), None, None), 100, 10, false), RefreshVerdict::Reuse);
        assert_eq!(exchange_verdict(&token(Some(90), None, None), 100, 10, true), RefreshVerdict::Reuse);
    }
}
