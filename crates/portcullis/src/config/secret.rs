//! Settings whose values must not be printed.

use serde::{Deserialize, Serialize};

/// A setting that must not be printed: its `Debug` hides the value.
///
/// ```
/// use portcullis::config::SecretSetting;
///
/// let key = SecretSetting::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// assert_eq!(format!("{key:?}"), "SecretSetting([redacted])");
/// assert_eq!(key.expose(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// assert!(!key.is_empty() && SecretSetting::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretSetting(String);

impl SecretSetting {
    /// A setting holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the setting is unset (empty).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "SecretSetting(\"\")" } else { "SecretSetting([redacted])" })
    }
}
