//! Where a device authorization grant (RFC 8628) stands.

use std::fmt;
use std::str::FromStr;

/// Where a device grant stands: RFC 8628 §3.5's `authorization_pending` while the user
/// has not decided, then approved or denied (`access_denied`) for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not entered the code, or not decided yet.
    Pending,
    /// The user approved: the next poll gets tokens, once.
    Approved,
    /// The user refused: every poll answers `access_denied`.
    Denied,
}

impl DeviceStatus {
    /// The name as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    /// The status a user's decision leads to.
    pub const fn decided(approve: bool) -> Self {
        if approve {
            Self::Approved
        } else {
            Self::Denied
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Pending, Self::Approved, Self::Denied]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown device grant status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for status in [DeviceStatus::Pending, DeviceStatus::Approved, DeviceStatus::Denied] {
            assert_eq!(status.as_str().parse::<DeviceStatus>(), Ok(status));
        }
        assert!("PENDING".parse::<DeviceStatus>().is_err());
        assert_eq!(DeviceStatus::decided(true), DeviceStatus::Approved);
        assert_eq!(DeviceStatus::decided(false), DeviceStatus::Denied);
    }
}
