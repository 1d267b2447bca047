//! The protocol's vocabulary: the values OAuth 2.0, PKCE, the device grant and JOSE
//! name, as types. Each is parsed once, where it enters (a request, a form, a row, the
//! command line), and travels typed from there; its spellings live here and nowhere
//! else.
//!
//! This module imports nothing from the rest of the crate, so the store, the endpoints,
//! the pages and the command line can all depend on it without depending on each other.

mod client;
mod device;
mod grant;
mod jose;
mod pkce;
mod resource;
mod response_type;

pub use client::{AccessTokenFormat, ClientAuthMethod, ClientType, GrantType};
pub use device::DeviceStatus;
pub use grant::TokenGrant;
pub use jose::SigningAlgorithm;
pub use pkce::CodeChallengeMethod;
pub use resource::{InvalidResource, NotGranted, ResourceUri, Resources, MAX_RESOURCES};
pub use response_type::ResponseType;
