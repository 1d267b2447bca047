//! Credentials that Portcullis makes (client secrets, tokens, codes) are 256 random bits
//! from the operating system's CSPRNG. At rest only their SHA-256 is kept.
//!
//! Each starts with the time it was made, in milliseconds, as 12 hex digits, and the
//! stored key is that prefix followed by the SHA-256 of the whole value. The prefix is
//! not secret (introspection tells `iat` anyway) and it is why the key has it: keys made
//! close together sort close together, so the unique index that validation looks tokens
//! up by grows at its right edge like a sequence, instead of taking each new key at a
//! random leaf, which costs a page read and a page write per token once the index no
//! longer fits in memory; so issuance stays flat as the table grows. Values without the
//! prefix (issued before it existed, or presented by anyone) are keyed by their SHA-256
//! alone, so they are still found, and still refused when unknown.
//!
//! Why a plain, fast SHA-256 and not Argon2 or a salted hash: salts and slow hashes
//! protect low-entropy human passwords from precomputed tables and guessing. A value
//! with 256 bits of entropy cannot be guessed or tabulated, so a preimage search against
//! SHA-256 is the only attack left, and it is infeasible. A deterministic hash also lets
//! the store find a token by an indexed lookup of its hash, so a copy of the database
//! yields no usable credential while validation stays a single query.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A credential in plain text: printable once, never logged, never cloned by accident.
///
/// ```
/// use portcullis::crypto::{Secret, TokenHash, GENERATED_LEN};
///
/// let secret = Secret::generate();
/// assert_eq!(secret.expose().len(), GENERATED_LEN);
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// // The store keeps only the hash, and a presented value is checked against it in
/// // constant time.
/// let stored = secret.hash();
/// let presented = Secret::new(secret.expose().to_owned());
/// assert!(presented.hash().ct_eq(&stored));
/// assert!(!TokenHash::of("a guess").ct_eq(&stored));
/// ```
pub struct Secret(String);

impl Secret {
    /// Wraps a credential someone presented, or one made elsewhere.
    ///
    /// ```
    /// use portcullis::crypto::{Secret, TokenHash};
    ///
    /// // A client secret as a client sent it, checked against the hash kept at registration.
    /// let presented = Secret::new("jhHw5bElk1B2MudwbA-BlqI4NIkguqgV7wrm4BpwMqw".to_owned());
    /// let stored = TokenHash::of("jhHw5bElk1B2MudwbA-BlqI4NIkguqgV7wrm4BpwMqw");
    /// assert!(presented.hash().ct_eq(&stored));
    /// ```
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The time prefix, then 32 random bytes in base64url without padding: 55
    /// characters of RFC 6750's b64token alphabet, so the value travels in headers,
    /// forms and URLs unescaped.
    ///
    /// ```
    /// use portcullis::crypto::{Secret, GENERATED_LEN};
    ///
    /// let (a, b) = (Secret::generate(), Secret::generate());
    /// assert_ne!(a.expose(), b.expose());
    /// assert_eq!(a.expose().len(), GENERATED_LEN);
    /// // RFC 6750 §2.1's b64token characters only: no escaping in headers, forms or URLs.
    /// assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    /// ```
    pub fn generate() -> Self {
        // Wall-clock time, not the server's `Clock`: the prefix only places the key in
        // the index, and a clock that tests move about should not scatter it.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64 & 0xffff_ffff_ffff);
        // Written by hand rather than with `format!`: every token issued comes through
        // here, and the formatting machinery is measurable on that path.
        let mut value = String::with_capacity(12 + 43);
        for shift in (0..12).rev() {
            value.push(char::from(b"0123456789abcdef"[(millis >> (4 * shift)) as usize & 0xf]));
        }
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        URL_SAFE_NO_PAD.encode_string(random, &mut value);
        Self(value)
    }

    /// The value itself, to send once to whoever it belongs to: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps of it: [`TokenHash::of`] its value.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `bytes` random bytes, base64url without padding.
///
/// ```
/// // 16 bytes: 22 characters, none of which needs escaping in a URL.
/// let state = portcullis::crypto::random_string(16);
/// assert_eq!(state.len(), 22);
/// assert!(state.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
/// ```
pub fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `length` random letters and digits (about 5.95 bits each). Used for client ids,
/// which people paste into command lines, where a leading `-` would read as an option.
///
/// ```
/// let client_id = portcullis::crypto::random_alphanumeric(32);
/// assert_eq!(client_id.len(), 32);
/// assert!(client_id.chars().all(|c| c.is_ascii_alphanumeric()));
/// ```
pub fn random_alphanumeric(length: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut OsRng, length)
}

/// Characters of a generated credential that give its creation time.
const TIME_PREFIX: usize = 12;
/// The length of a generated credential.
pub const GENERATED_LEN: usize = TIME_PREFIX + 43;
const KEY_LEN: usize = TIME_PREFIX + 32;

/// What the store keeps of a credential and looks it up by: the SHA-256 of its value,
/// after the time prefix when the value has one (see the module documentation).
///
/// ```
/// use portcullis::crypto::{Secret, TokenHash};
///
/// let token = Secret::generate();
/// let key = TokenHash::of(token.expose());
/// // What the database holds: 12 bytes of time prefix, then the SHA-256.
/// assert_eq!(key.as_bytes().len(), 44);
/// assert_eq!(&key.as_bytes()[..12], &token.expose().as_bytes()[..12]);
/// // A value that is not shaped like a generated one is keyed by its SHA-256 alone.
/// assert_eq!(TokenHash::of("not-one-of-ours").as_bytes().len(), 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash {
    bytes: [u8; KEY_LEN],
    len: u8,
}

impl TokenHash {
    /// The key of `value`: its time prefix if it has one, then the SHA-256 of all of it.
    pub fn of(value: &str) -> Self {
        let digest = Sha256::digest(value.as_bytes());
        let mut bytes = [0u8; KEY_LEN];
        let prefix = time_prefix(value);
        bytes[..prefix.len()].copy_from_slice(prefix);
        bytes[prefix.len()..prefix.len() + 32].copy_from_slice(&digest);
        Self { bytes, len: (prefix.len() + 32) as u8 }
    }

    /// A key as stored: 32 bytes, or 44 with a time prefix.
    ///
    /// ```
    /// use portcullis::crypto::{Secret, TokenHash};
    ///
    /// let key = Secret::generate().hash();
    /// // Read back from a database column.
    /// let column: Vec<u8> = key.as_bytes().to_vec();
    /// assert!(TokenHash::from_slice(&column).is_some_and(|read| read == key));
    /// assert!(TokenHash::from_slice(&column[1..]).is_none(), "neither 32 nor 44 bytes");
    /// ```
    pub fn from_slice(stored: &[u8]) -> Option<Self> {
        if stored.len() != 32 && !(stored.len() == KEY_LEN && is_time_prefix(&stored[..TIME_PREFIX])) {
            return None;
        }
        let mut bytes = [0u8; KEY_LEN];
        bytes[..stored.len()].copy_from_slice(stored);
        Some(Self { bytes, len: stored.len() as u8 })
    }

    /// The key as stored: 32 bytes, or 44 with a time prefix.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Constant-time comparison, for checking a presented secret against a stored hash.
    /// (The lengths, which only say whether a value has a time prefix, may leak.)
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.len == other.len && bool::from(self.bytes.ct_eq(&other.bytes))
    }
}

/// The value's time prefix, or nothing if it is not shaped like a generated credential.
fn time_prefix(value: &str) -> &[u8] {
    let bytes = value.as_bytes();
    if bytes.len() == GENERATED_LEN && is_time_prefix(&bytes[..TIME_PREFIX]) {
        &bytes[..TIME_PREFIX]
    } else {
        &[]
    }
}

fn is_time_prefix(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = &self.as_bytes()[usize::from(self.len) - 32..];
        write!(f, "TokenHash({}…)", hex::encode(&digest[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_url_safe() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.expose().len(), GENERATED_LEN);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
        let id = random_alphanumeric(32);
        assert!(id.len() == 32 && id.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn generated_secrets_start_with_their_creation_time_in_hex() {
        let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let before = now();
        let secret = Secret::generate();
        let after = now();
        let prefix = u64::from_str_radix(&secret.expose()[..TIME_PREFIX], 16).unwrap();
        assert!((before..=after).contains(&prefix), "{prefix} not in {before}..={after}");
        assert_eq!(&secret.expose()[..TIME_PREFIX], format!("{prefix:012x}"));
    }

    #[test]
    fn generated_keys_sort_by_creation_time_and_hide_the_random_part() {
        let first = Secret::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = Secret::generate();
        let (a, b) = (first.hash(), second.hash());
        assert_eq!(a.as_bytes().len(), KEY_LEN);
        assert!(a.as_bytes() < b.as_bytes(), "keys made later sort later");
        assert_eq!(&a.as_bytes()[..TIME_PREFIX], &first.expose().as_bytes()[..TIME_PREFIX]);
        assert_eq!(&a.as_bytes()[TIME_PREFIX..], Sha256::digest(first.expose().as_bytes()).as_slice());
        // Nothing of the random part is kept in the clear.
        let random = &first.expose()[TIME_PREFIX..];
        assert!(!a.as_bytes().windows(8).any(|w| random.as_bytes().windows(8).any(|r| r == w)));
        assert_eq!(TokenHash::from_slice(a.as_bytes()), Some(a));
    }

    #[test]
    fn values_without_a_time_prefix_are_keyed_by_their_sha256() {
        // A 43-character value from before the prefix existed, and anything else a
        // caller may present, keep the plain SHA-256 key, so old rows are still found.
        let legacy = random_string(32);
        assert_eq!(TokenHash::of(&legacy).as_bytes(), Sha256::digest(legacy.as_bytes()).as_slice());
        let not_hex = format!("zzzzzzzzzzzz{}", random_string(32));
        assert_eq!(TokenHash::of(&not_hex).as_bytes().len(), 32);
        assert_eq!(TokenHash::from_slice(&[7u8; 32]).map(|h| h.as_bytes().len()), Some(32));
        assert_eq!(TokenHash::from_slice(&[7u8; 44]), None);
        assert_eq!(TokenHash::from_slice(&[7u8; 31]), None);
        // Same digest, one with a prefix and one without: not equal.
        let generated = Secret::generate();
        let plain = TokenHash::from_slice(&generated.hash().as_bytes()[TIME_PREFIX..]);
        assert!(plain.is_some_and(|plain| !plain.ct_eq(&generated.hash())));
    }

    #[test]
    fn hash_comparison() {
        let s = Secret::new("abc".into());
        assert!(s.hash().ct_eq(&TokenHash::of("abc")));
        assert!(!s.hash().ct_eq(&TokenHash::of("abd")));
    }
}
