//! Seeding an empty store with the configuration file's policy.

use graygate_policy::Policy;
use graygate_store::{Change, PolicyStore, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Saves `policy` as version 1 when the store is empty; when the store
/// already holds a policy that differs, says which one is served. Retries
/// with backoff while the store cannot be reached, so a gateway started
/// while Redis is down still seeds it once Redis is up.
///
/// A gateway that already serves a stored version (`served` > 0, from its
/// snapshot) never seeds: an empty store then means the store lost its data,
/// and re-seeding would restart the version numbers under the fleet.
pub(super) async fn seed(store: Arc<dyn PolicyStore>, policy: Policy, origin: String, served: u64) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match store.load().await {
            Ok(Some(current)) => {
                if !current.holds(&policy) {
                    tracing::warn!(
                        version = current.version(),
                        file = %origin,
                        "the policy store's version differs from the file's policy: the store's is served \
                         (to apply the file: `graygate ctl apply FILE`, or edit it and send SIGHUP)"
                    );
                }
                return;
            }
            Ok(None) if served > 0 => {
                tracing::error!(
                    served,
                    "the policy store is empty but this gateway served version {served} from it: the store lost its \
                     data (Redis without persistence?). Not seeding it from the file; re-apply the policy with \
                     `graygate ctl apply` (versions will restart at 1: restart the gateways after)"
                );
                return;
            }
            Ok(None) => {
                let change = Change::new(format!("file:{origin}"), format!("seeded from {origin}"));
                match store.save(&policy, 0, change).await {
                    Ok(saved) => {
                        tracing::info!(version = saved.version(), file = %origin, "policy store seeded from the file");
                        return;
                    }
                    // Another gateway seeded it first.
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => tracing::warn!(error = %e, "seeding the policy store failed; retrying"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "the policy store cannot be read yet; retrying to seed it"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
