//! The process's open-files limit, raised at start the way Go's runtime and
//! nginx's `worker_rlimit_nofile` do: a login shell's soft limit (often
//! 1,024) would refuse connections long before `max_connections`.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// What the kernel allows one process at most when the hard limit is
/// "unlimited" (`/proc/sys/fs/nr_open`'s default).
const NR_OPEN: u64 = 1 << 20;

/// Raises the soft limit on open files to the hard one, and warns when even
/// that is short of what `max_connections` needs: a descriptor per client
/// connection, one per upstream connection in flight, and the idle pools.
pub(crate) fn raise_open_files(max_connections: usize) {
    let before = getrlimit(Resource::Nofile);
    let hard = before.maximum.unwrap_or(NR_OPEN);
    let mut soft = before.current.unwrap_or(NR_OPEN);
    if soft < hard {
        let raised = Rlimit {
            current: Some(hard),
            maximum: before.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "open-files limit raised");
                soft = hard;
            }
            Err(e) => tracing::warn!(limit = soft, error = %e, "cannot raise the open-files limit"),
        }
    }
    let wanted = needed(max_connections);
    if soft < wanted {
        tracing::warn!(
            limit = soft,
            max_connections,
            wanted,
            "the open-files limit is below what max_connections needs: past it, connections wait in the \
             listen queue (raise LimitNOFILE / ulimit -n, or lower max_connections)"
        );
    }
}

/// Two descriptors per connection (client and upstream) and 1,024 to spare.
fn needed(max_connections: usize) -> u64 {
    u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .saturating_add(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_raising_the_soft_limit_equals_the_hard_one() {
        // Lowered first (not below what the other tests in this process
        // may hold), so that there is something to raise.
        let start = getrlimit(Resource::Nofile);
        let low = start.maximum.unwrap_or(NR_OPEN).min(4096);
        let lowered = Rlimit {
            current: Some(low),
            maximum: start.maximum,
        };
        setrlimit(Resource::Nofile, lowered).unwrap();
        raise_open_files(10);
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current.unwrap_or(NR_OPEN), now.maximum.unwrap_or(NR_OPEN));
        assert_eq!(needed(10_000), 21_024);
    }
}
