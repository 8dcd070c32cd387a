//! graygate's data plane: a reverse proxy on tokio, with its own HTTP/1.1
//! server and client legs (`server`, `upstream::h1`), that routes each
//! request by the policy.
//!
//! A [`Server`] accepts HTTP/1.1 connections and hands each request to the
//! phases of [`forward`]: resolve the client address, route and decide with
//! the policy of one [`Snapshot`], pick a live server of the chosen group from
//! [`upstream`], forward with streamed bodies and pooled keep-alive
//! connections, and log the decision. The [`Gateway`] holds the current
//! snapshot behind an `ArcSwap`; [`Gateway::reload`] and
//! [`Gateway::swap_policy`] replace it atomically.
//!
//! Configuration: the policy (see `graygate-policy`) plus a `[gateway]` table
//! read by [`config`]; every key is documented in `docs/configuration.md`.

#![forbid(unsafe_code)]
// The lookup future (redis-rs through moka) nests deeply enough to pass the
// default limit when the compiler proves it `Send`.
#![recursion_limit = "256"]

pub mod access_log;
pub mod body;
pub mod client_ip;
pub mod config;
mod deadline;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod headers;
pub mod metrics;
pub mod server;
pub mod sticky;
pub mod upstream;
pub mod view;
mod wire;

pub use config::{Config, GatewayConfig, Settings};
pub use error::{ErrorKind, ProxyError};
pub use gateway::{Gateway, Snapshot, StartError};
pub use metrics::{GatewayMetrics, Metrics};
pub use server::{Server, run_with_signals};
pub use sticky::StickyKey;
