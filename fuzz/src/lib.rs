//! What the fuzz targets share: reading an input as fields, and a few oracles written
//! from the RFCs' grammars, independently of the code they check.

/// Splits `text` at its first `n - 1` newlines: fields for a target's parts (a header,
/// then a body, say), so that corpus files stay readable text. Missing fields are empty.
pub fn fields(text: &str, n: usize) -> Vec<&str> {
    let mut parts: Vec<&str> = text.splitn(n, '\n').collect();
    parts.resize(n, "");
    parts
}

/// `Some(field)` unless the field is empty: an empty line stands for "absent".
pub fn present(field: &str) -> Option<&str> {
    (!field.is_empty()).then_some(field)
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// RFC 3986 §2.3: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| is_unreserved(b) || b == b'+' || b == b'/')
}
