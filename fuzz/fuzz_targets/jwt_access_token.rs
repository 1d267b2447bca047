//! JWT access tokens (RFC 9068) as the kit's `JwtVerifier` checks them, with the keys
//! the server publishes; and key sets (RFC 7517) the verifier is given.
//!
//! Input, one per line: a mode, then for `raw` the token itself; for `jwks` a key set
//! as JSON; for an algorithm (`RS256`, `ES256`, `EdDSA`) the header's `typ` and `kid`
//! (empty: none, the key's own), the claims as JSON, a tampering (`payload`, `header`,
//! `signature` or nothing) and its data. The harness signs the claims with the server's
//! key, so that the fuzzer reaches the claim checks, then tampers.

#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis::fuzzing::IdTokenKeys;
use portcullis_axum::{JwtVerifier, ScopeSet, TokenInfo, Verifier};
use portcullis_fuzz::{fields, present};
use serde_json::Value;

const ISSUER: &str = "https://op.example/o";
const AUDIENCE: &str = "https://api.example/";

struct Fixture {
    keys: IdTokenKeys,
    verifier: JwtVerifier,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Made anew in every process: no token in the corpus can carry a valid signature.
        let keys = IdTokenKeys::generate().unwrap_or_else(|e| panic!("keys: {e}"));
        let verifier = JwtVerifier::from_jwks(&keys.jwks(), ISSUER, AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
        Fixture { keys, verifier, runtime }
    })
}

fn verify(verifier: &JwtVerifier, token: &str) -> Option<TokenInfo> {
    // A fixed key set never needs the network: "cannot check" would be a bug here.
    fixture().runtime.block_on(verifier.verify(token)).unwrap_or_else(|e| panic!("verify failed: {e:?}"))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// RFC 7519 §2 NumericDate, as the verifier reads it (fractions dropped).
fn numeric_date(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let f = fixture();
    let (mode, rest) = text.split_once('\n').unwrap_or((text, ""));
    match mode {
        "RS256" | "ES256" | "EdDSA" => {}
        "jwks" => {
            // Any key set: no panic building the verifier or checking with it (short
            // Ed25519 keys once made the JWT library panic), and only a key of ours
            // verifies our tokens.
            if let Ok(verifier) = JwtVerifier::from_jwks_json(rest, ISSUER, AUDIENCE) {
                let claims = serde_json::json!({
                    "iss": ISSUER, "aud": AUDIENCE, "sub": "1", "client_id": "c", "exp": now() + 3600,
                });
                for alg in ["RS256", "ES256", "EdDSA"] {
                    let Ok(token) = f.keys.sign(alg, Some("at+jwt"), None, &claims) else { continue };
                    if verify(&verifier, &token).is_some() {
                        let kid = f.keys.kid(alg).unwrap_or_default();
                        assert!(rest.contains(kid), "a key set without our {alg} key verified our token");
                    }
                }
                let _ = verify(&verifier, "eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.AAAA");
            }
            return;
        }
        _ => {
            // Anything the harness did not sign is refused, and refused as invalid
            // (None), not as "cannot check".
            assert!(verify(&f.verifier, rest).is_none(), "an unsigned token was accepted: {rest:?}");
            assert!(verify(&f.verifier, text).is_none(), "an unsigned token was accepted: {text:?}");
            return;
        }
    }

    let parts = fields(rest, 5);
    let (typ, kid, claims_json, tamper, tamper_data) =
        (present(parts[0]), present(parts[1]), parts[2], parts[3], parts[4]);
    let Ok(claims) = serde_json::from_str::<Value>(claims_json) else { return };
    let Ok(token) = f.keys.sign(mode, typ, kid, &claims) else { return };
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3);
    let forged = match tamper {
        "payload" => {
            let forged = URL_SAFE_NO_PAD.encode(tamper_data);
            (forged != segments[1]).then(|| format!("{}.{forged}.{}", segments[0], segments[2]))
        }
        "header" => {
            let forged = URL_SAFE_NO_PAD.encode(tamper_data);
            (forged != segments[0]).then(|| format!("{forged}.{}.{}", segments[1], segments[2]))
        }
        "signature" => {
            let original = URL_SAFE_NO_PAD.decode(segments[2]).unwrap_or_default();
            (tamper_data.as_bytes() != original.as_slice())
                .then(|| format!("{}.{}.{}", segments[0], segments[1], URL_SAFE_NO_PAD.encode(tamper_data)))
        }
        _ => None,
    };
    if let Some(forged) = forged {
        // RFC 9068 §4: "The resource server MUST validate the signature of all incoming
        // JWT access tokens": a changed header, payload or signature breaks it.
        assert!(verify(&f.verifier, &forged).is_none(), "a tampered token was accepted: {forged}");
        return;
    }

    let accepted = verify(&f.verifier, &token);
    let object = claims.as_object();
    let get = |name: &str| object.and_then(|c| c.get(name));
    let string = |name: &str| get(name).and_then(Value::as_str);
    let now = now();
    if let Some(info) = &accepted {
        // RFC 9068 §4, each MUST in turn.
        let typ = typ.unwrap_or_default().to_ascii_lowercase();
        assert!(typ == "at+jwt" || typ == "application/at+jwt", "accepted typ {typ:?}");
        assert_eq!(string("iss"), Some(ISSUER), "accepted another issuer: {claims_json}");
        let aud_ok = match get("aud") {
            Some(Value::String(a)) => a == AUDIENCE,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(AUDIENCE)),
            _ => false,
        };
        assert!(aud_ok, "accepted a token for another audience: {claims_json}");
        let exp = get("exp").and_then(numeric_date);
        assert!(exp.is_some_and(|exp| exp > now - 2), "accepted an expired token: {claims_json}");
        // RFC 7519 §4.1.5: not before `nbf`.
        assert!(get("nbf").and_then(numeric_date).is_none_or(|nbf| nbf <= now + 2), "{claims_json}");
        assert!(kid.is_none_or(|k| Some(k) == f.keys.kid(mode)), "a token naming another key {kid:?} was accepted");
        assert_eq!(Some(info.client_id.as_str()), string("client_id"));
        let sub = string("sub");
        assert!(sub.is_some());
        assert_eq!(info.user_id.as_deref(), sub.filter(|s| Some(*s) != string("client_id")));
        let scope = ScopeSet::parse(string("scope").unwrap_or_default());
        assert_eq!(Ok(&info.scope), scope.as_ref(), "{claims_json}");
    }
    // A plain, well-formed token is accepted.
    let plain = string("iss") == Some(ISSUER)
        && string("aud") == Some(AUDIENCE)
        && string("sub").is_some()
        && string("client_id").is_some()
        && get("exp").and_then(Value::as_i64).is_some_and(|exp| exp > now + 60)
        && get("nbf").is_none()
        && get("iat").is_none_or(Value::is_i64)
        && get("scope").is_none_or(|s| s.as_str().is_some_and(|s| ScopeSet::parse(s).is_ok()))
        && get("username").is_none_or(Value::is_string)
        && typ == Some("at+jwt")
        && kid.is_none();
    if plain {
        assert!(accepted.is_some(), "a good token was refused: {claims_json}");
    }
});
