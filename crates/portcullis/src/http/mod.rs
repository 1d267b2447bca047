//! The HTTP glue between the protocol and the network: the state handlers share, the
//! route table, and the layers every request passes (who the client is, rate limits,
//! metrics), and serving it all, plain or over TLS. The endpoints and pages themselves
//! live in `oauth`, `oidc`, `resource` and `pages`, each with a router of its own that
//! [`router`] merges.

pub mod edge;
pub mod limits;
pub mod metrics;
mod router;
pub mod server;
mod state;

pub use router::router;
pub(crate) use router::{route_both, standalone_router};
pub use state::{AppState, API_REALM};
