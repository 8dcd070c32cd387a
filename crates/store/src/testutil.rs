//! Policies for unit tests: the integration tests' policies, shared by path.

#[allow(unreachable_pub)] // `pub` for the integration tests that share the file
#[path = "../tests/support/policies.rs"]
mod shared;

use graygate_policy::Policy;

/// A small valid policy: groups `stable` and `canary`, one route.
pub(crate) fn policy() -> Policy {
    shared::policy(0, 0)
}

/// The same policy with `percent` % of users on `canary`.
pub(crate) fn policy_with_canary(percent: u16) -> Policy {
    shared::policy(percent, 0)
}
