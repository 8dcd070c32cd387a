//! The `graygate` binary's commands — `serve`, `check`, `explain`, `demo`, `ctl` —
//! as a library, so that end-to-end tests drive the same code.
//!
//! The binary is thin: parsing arguments ([`cli`]), reading files, building
//! the tokio runtime. The data plane is `graygate-proxy`, the policy engine
//! `graygate-policy`; [`demo`] adds the built-in demo backends.

#![forbid(unsafe_code)]

pub mod cli;
pub mod ctl;
pub mod demo;
pub mod explain;
pub mod serve;
