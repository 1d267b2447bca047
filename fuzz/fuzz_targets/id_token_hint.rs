//! ID tokens the server is handed back (`id_token_hint` at the authorization and logout
//! endpoints, OpenID Connect Core §3.1.2.1, RP-Initiated Logout §2): only a token one of
//! the server's keys signed, typed as an ID token (`typ` JWT, not a JWT access token's
//! `at+jwt`), for its issuer, names anyone.
//!
//! Input, one per line: a mode, then for `raw` the token itself; for an algorithm
//! (`RS256`, `ES256`, `EdDSA`) the header's `typ` and `kid` (empty: none, the key's own),
//! the claims as JSON, a tampering (`payload`, `header`, `signature` or nothing) and its
//! data. The harness signs the claims with the server's key, so that the fuzzer reaches
//! the claim checks, then tampers.

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::IdTokenKeys;
use portcullis_fuzz::{fields, present};
use serde_json::Value;

const ISSUER: &str = "https://op.example/o";

fn keys() -> &'static IdTokenKeys {
    static KEYS: OnceLock<IdTokenKeys> = OnceLock::new();
    // Made anew in every process: no token in the corpus can carry a valid signature.
    KEYS.get_or_init(|| IdTokenKeys::generate().unwrap_or_else(|e| panic!("keys: {e}")))
}

/// Whether a numeric date claim is absent or a plain non-negative integer, which the
/// JWT library reads without complaint.
fn plain_date(claims: &serde_json::Map<String, Value>, name: &str) -> bool {
    claims.get(name).is_none_or(|v| v.is_u64())
}

/// Whether a header's `typ` is an ID token's: `JWT`, in any case, with or without the
/// "application/" prefix (RFC 7515 §4.1.9).
fn id_token_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| matches!(t.to_ascii_lowercase().as_str(), "jwt" | "application/jwt"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let keys = keys();
    let (mode, rest) = text.split_once('\n').unwrap_or((text, ""));
    if !matches!(mode, "RS256" | "ES256" | "EdDSA") {
        // Anything the harness did not sign names nobody.
        assert_eq!(keys.identify(rest, ISSUER), None, "an unsigned token was believed: {rest:?}");
        assert_eq!(keys.identify(text, ISSUER), None, "an unsigned token was believed: {text:?}");
        return;
    }
    let parts = fields(rest, 5);
    let (typ, kid, claims_json, tamper, tamper_data) =
        (present(parts[0]), present(parts[1]), parts[2], parts[3], parts[4]);
    let Ok(claims) = serde_json::from_str::<Value>(claims_json) else { return };
    let Ok(token) = keys.sign(mode, typ, kid, &claims) else { return };
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3);

    let tampered = match tamper {
        "payload" => {
            let forged = URL_SAFE_NO_PAD.encode(tamper_data);
            (forged != segments[1]).then(|| format!("{}.{forged}.{}", segments[0], segments[2]))
        }
        "header" => {
            let forged = URL_SAFE_NO_PAD.encode(tamper_data);
            (forged != segments[0]).then(|| format!("{forged}.{}.{}", segments[1], segments[2]))
        }
        // (An ECDSA signature has a twin, (r, n - s), that also verifies; no fuzzer
        // stumbles on it, and a hint is not worth more for it.)
        "signature" => {
            let original = URL_SAFE_NO_PAD.decode(segments[2]).unwrap_or_default();
            (tamper_data.as_bytes() != original.as_slice())
                .then(|| format!("{}.{}.{}", segments[0], segments[1], URL_SAFE_NO_PAD.encode(tamper_data)))
        }
        _ => None,
    };
    if let Some(forged) = tampered {
        // A changed header, payload or signature breaks the signature: nobody is named.
        // (A header of another alg that keeps the bytes signed is a change too.)
        assert_eq!(keys.identify(&forged, ISSUER), None, "a tampered token was believed: {forged}");
        return;
    }

    let identity = keys.identify(&token, ISSUER);
    let object = claims.as_object();
    let get = |name: &str| object.and_then(|c| c.get(name)).and_then(Value::as_str);
    if let Some((sub, aud)) = &identity {
        // Core §3.1.3.7: the issuer "MUST exactly match the value of the iss (issuer)
        // Claim", and the hint names its `sub` and, as its single `aud`, the client.
        assert_eq!(get("iss"), Some(ISSUER), "believed a token of another issuer: {claims_json}");
        assert_eq!(get("sub"), Some(sub.as_str()));
        assert_eq!(get("aud"), Some(aud.as_str()));
        assert!(kid.is_none_or(|k| Some(k) == keys.kid(mode)), "a token naming another key {kid:?} was believed");
        assert!(id_token_typ(typ), "a token typed {typ:?} was believed");
    }
    // A plain, well-formed hint is believed, expired or not ("the OP SHOULD treat it as a
    // hint even if expired").
    let plain = object.is_some_and(|c| ["exp", "nbf", "iat"].iter().all(|n| plain_date(c, n)));
    if plain
        && get("iss") == Some(ISSUER)
        && get("sub").is_some()
        && get("aud").is_some()
        && kid.is_none()
        && id_token_typ(typ)
    {
        assert!(identity.is_some(), "a good hint was not believed: {claims_json}");
    }
    // Never for another issuer.
    const OTHER: &str = "https://other.example/o";
    if get("iss") != Some(OTHER) {
        assert_eq!(keys.identify(&token, OTHER), None, "believed for another issuer: {claims_json}");
    }
});
