//! graygate's policy engine: which version of a service serves a request.
//!
//! A [`Policy`] (read from TOML or JSON) is validated and compiled once into a
//! [`CompiledPolicy`]; every error is reported with the path of its field
//! ([`PolicyError`]). The compiled policy then decides requests —
//! [`CompiledPolicy::decide`] → [`Decision`] `{ route, group, rule, reason,
//! version }` — without I/O and, for rules that read neither a body nor a
//! per-user key, without allocation.
//!
//! The crate is pure: no tokio, no sockets, no clocks. The gateway, the admin
//! API and the client SDK all build on it. The policy format is documented in
//! `docs/policy.md`; bucket hashing in [`hash`].

#![forbid(unsafe_code)]

pub mod attrs;
pub mod cidr;
mod compile;
mod decide;
mod error;
pub mod hash;
pub mod model;
mod request;
mod source;
pub mod version;

pub use attrs::{Body, RequestAttrs};
pub use compile::{CompiledGroup, CompiledPolicy, CompiledRoute, GroupId, Needs, RouteId, compile};
pub use decide::{Decision, Overrides, Reason, RouteRef};
pub use error::{FieldError, FieldPath, PolicyError, Seg};
pub use model::Policy;
pub use request::{Lookup, Request};
pub use source::{compile_json, compile_toml, line_at, line_of, parse_toml};
