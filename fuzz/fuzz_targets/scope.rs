//! Scope strings (RFC 6749 §3.3), as the kit parses them and as the server grants them.
//!
//! Input: `requested` and, after a newline, the scope granted before (for a refresh)
//! and the application's allowed scopes, each on its own line (empty: none).

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use portcullis::config::OAuth2Settings;
use portcullis::oauth::{scope, ErrorCode};
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::{Application, ApplicationSettings};
use portcullis_axum::scope::InvalidScope;
use portcullis_axum::ScopeSet;
use portcullis_fuzz::{fields, is_scope_token, present};

fn app(allowed: Option<ScopeSet>) -> Application {
    Application {
        id: 1,
        client_id: "fuzz".into(),
        client_secret_hash: None,
        settings: ApplicationSettings {
            name: "fuzz".into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::Password],
            allowed_scopes: allowed,
            ..ApplicationSettings::default()
        },
        owner_id: None,
        created_at: 0,
        updated_at: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts = fields(text, 3);
    let (raw, granted_raw, allowed_raw) = (parts[0], parts[1], present(parts[2]));
    // RFC 6749 §3.3: "The value of the scope parameter is expressed as a list of
    // space-delimited, case-sensitive strings."
    let tokens: BTreeSet<&str> = raw.split(' ').filter(|t| !t.is_empty()).collect();

    let parsed = ScopeSet::parse(raw);
    match &parsed {
        Ok(set) => {
            assert!(tokens.iter().all(|t| is_scope_token(t)), "accepted outside the grammar: {raw:?}");
            assert_eq!(set.iter().collect::<BTreeSet<_>>(), tokens, "the set is not the tokens of {raw:?}");
            // The canonical form re-parses to the same set, and is single-spaced.
            let canonical = set.to_string();
            assert_eq!(ScopeSet::parse(&canonical).as_ref(), Ok(set), "round trip of {raw:?}");
            assert!(!canonical.starts_with(' ') && !canonical.ends_with(' ') && !canonical.contains("  "));
            assert_eq!(set.is_empty(), canonical.is_empty());
        }
        Err(InvalidScope(bad)) => {
            assert!(tokens.contains(bad.as_str()), "the error names {bad:?}, not a token of {raw:?}");
            assert!(!is_scope_token(bad), "refused a valid token {bad:?}");
        }
    }

    // The server's grant rules over the same string.
    let settings = OAuth2Settings::default();
    let allowed = allowed_raw.and_then(|a| ScopeSet::parse(a).ok());
    let app = app(allowed.clone());
    match scope::requested(Some(raw)).and_then(|requested| scope::resolve(requested, &settings, &app)) {
        Ok(granted) => {
            assert_eq!(Some(&granted), parsed.as_ref().ok(), "granted something other than asked: {raw:?}");
            assert!(!granted.is_empty());
            for s in granted.iter() {
                assert!(settings.scopes.contains_key(s), "granted the unconfigured scope {s:?}");
                assert!(allowed.as_ref().is_none_or(|a| a.contains(s)), "granted {s:?}, not allowed for the app");
            }
        }
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidScope, "{raw:?}: {e:?}"),
    }
    // No scope asked: the defaults the app may have, or invalid_scope.
    match scope::resolve(None, &settings, &app) {
        Ok(granted) => assert!(granted.iter().all(|s| settings.default_scopes.iter().any(|d| d == s))),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidScope),
    }

    // A refresh narrows and never widens (RFC 6749 §6).
    if let Ok(granted) = ScopeSet::parse(granted_raw) {
        match scope::requested(Some(raw)).and_then(|requested| scope::narrow(requested, &granted)) {
            Ok(narrowed) => {
                assert!(narrowed.is_subset(&granted), "{raw:?} widened {granted_raw:?}");
                assert!(!narrowed.is_empty());
                assert_eq!(Some(&narrowed), parsed.as_ref().ok());
            }
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidScope);
                assert!(parsed.as_ref().is_ok_and(|p| p.is_empty() || !p.is_subset(&granted)) || parsed.is_err());
            }
        }
    }
});
