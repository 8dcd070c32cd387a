//! From stored versions to compiled policies, off the request path.
//!
//! The data plane wants an `Arc<CompiledPolicy>` it can swap in atomically
//! (R10). [`compiled`] follows a stream of stored versions (a store's
//! [`PolicyStore::watch`](crate::PolicyStore::watch) or
//! [`OpenStore::updates`](crate::OpenStore)), compiles each on a blocking
//! thread, and publishes the result: in version order, never backwards. A
//! version that does not compile — impossible for versions saved through a
//! store, which validates first, but possible for keys written by hand — is
//! logged and skipped; the previous compiled policy stays in force.

use crate::fsutil::blocking;
use crate::model::StoredPolicy;
use crate::store::Current;
use graygate_policy::CompiledPolicy;
use std::sync::Arc;
use tokio::sync::watch;

/// The compiled policy in force; `None` until a first version compiles.
pub type Compiled = Option<Arc<CompiledPolicy>>;

/// Compiles what `updates` carries now, then spawns a task that compiles
/// each newer version; the receiver holds the latest compiled policy. The
/// task ends when `updates`' sender or every returned receiver is dropped.
pub async fn compiled(mut updates: watch::Receiver<Current>) -> watch::Receiver<Compiled> {
    let first = updates.borrow_and_update().clone();
    let initial = match first {
        Some(stored) => compile(stored).await,
        None => None,
    };
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
            let Some(stored) = updates.borrow_and_update().clone() else {
                continue;
            };
            let applied = tx.borrow().as_ref().map(|c| c.version());
            if applied.is_some_and(|v| v >= stored.version()) {
                continue;
            }
            if let Some(policy) = compile(stored).await {
                tx.send_if_modified(|cur| {
                    if cur.as_ref().is_some_and(|c| c.version() >= policy.version()) {
                        return false;
                    }
                    *cur = Some(policy);
                    true
                });
            }
        }
    });
    rx
}

async fn compile(stored: Arc<StoredPolicy>) -> Option<Arc<CompiledPolicy>> {
    let version = stored.version();
    match blocking(move || Ok(stored.compile())).await {
        Ok(Ok(policy)) => Some(Arc::new(policy)),
        Ok(Err(e)) => {
            tracing::error!(version, error = %e, "stored policy does not compile; keeping the previous one");
            None
        }
        Err(e) => {
            tracing::error!(version, error = %e, "compiling the policy failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VersionMeta;
    use crate::testutil::policy_with_canary;

    fn stored(version: u64, document: String) -> Arc<StoredPolicy> {
        Arc::new(StoredPolicy {
            meta: VersionMeta {
                version,
                who: String::new(),
                when_ms: 0,
                summary: String::new(),
            },
            document: document.into(),
        })
    }

    #[tokio::test]
    async fn versions_are_compiled_in_order_and_a_bad_one_is_skipped() {
        let good = |p| serde_json::to_string(&policy_with_canary(p)).unwrap();
        let (tx, rx) = watch::channel(Some(stored(1, good(1))));
        let mut out = compiled(rx).await;
        assert_eq!(out.borrow_and_update().as_ref().unwrap().version(), 1);

        tx.send(Some(stored(2, "{\"routes\": 7}".into()))).unwrap();
        tx.send(Some(stored(3, good(3)))).unwrap();
        out.changed().await.unwrap();
        let now = out.borrow_and_update().clone().unwrap();
        assert_eq!(now.version(), 3);
        assert_eq!(now.policy(), &policy_with_canary(3));

        // An older version arriving late is never applied.
        tx.send(Some(stored(2, good(2)))).unwrap();
        tx.send(Some(stored(4, good(4)))).unwrap();
        out.changed().await.unwrap();
        assert_eq!(out.borrow().as_ref().unwrap().version(), 4);
    }
}
