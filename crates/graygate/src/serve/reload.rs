//! SIGHUP: re-read the configuration file. Settings are swapped in; the
//! policy, when it changed *in the file* since it was last read, is saved to
//! the store as a new, audited version, which every gateway then applies.
//! A policy changed through the admin API is not reverted by a reload whose
//! file policy did not change.

use graygate_policy::Policy;
use graygate_proxy::{Config, Gateway};
use graygate_store::{Change, PolicyStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug)]
pub(super) struct Reloader {
    path: PathBuf,
    gateway: Arc<Gateway>,
    store: Arc<dyn PolicyStore>,
    /// The file's policy as last read.
    last: Mutex<Option<Policy>>,
}

impl Reloader {
    pub(super) fn new(path: PathBuf, gateway: Arc<Gateway>, store: Arc<dyn PolicyStore>, last: Option<Policy>) -> Self {
        Reloader {
            path,
            gateway,
            store,
            last: Mutex::new(last),
        }
    }

    pub(super) async fn reload(&self) {
        let file = self.path.display();
        let src = match std::fs::read_to_string(&self.path) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%file, error = %e, "reload failed; keeping the running configuration");
                return;
            }
        };
        let config = match Config::from_toml(&src, 0) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(%file, "reload failed; keeping the running configuration: {e}");
                return;
            }
        };
        let policy = super::file_policy(&config.policy);
        if let Err(e) = self.gateway.reload_settings(config.settings) {
            tracing::error!(%file, "reload failed; keeping the running configuration: {e}");
            return;
        }
        let mut last = self.last.lock().await;
        match policy {
            Some(policy) if !last.as_ref().is_some_and(|l| l.same_document(&policy)) => {
                match self.save(&policy).await {
                    Ok(Some(version)) => {
                        tracing::info!(%file, version, "configuration reloaded; the file's policy saved as a new version");
                        *last = Some(policy);
                    }
                    Ok(None) => {
                        tracing::info!(%file, "configuration reloaded; the file's policy is the store's already");
                        *last = Some(policy);
                    }
                    Err(e) => {
                        tracing::error!(%file, error = %e, "configuration reloaded, but saving its policy failed")
                    }
                }
            }
            _ => tracing::info!(%file, "configuration reloaded; the policy did not change in the file"),
        }
    }

    /// Saves `policy` on top of the store's current version (retrying a lost
    /// race a few times); `None` when the store holds it already.
    async fn save(&self, policy: &Policy) -> Result<Option<u64>, StoreError> {
        let who = format!("sighup:{}", self.path.display());
        let mut races = 0;
        loop {
            let current = self.store.load().await?;
            if current.as_ref().is_some_and(|c| c.holds(policy)) {
                return Ok(None);
            }
            let old = current.as_ref().map(|c| c.policy()).transpose()?;
            let summary = match &old {
                Some(old) => format!("reload: {}", graygate_admin::diff_summary(old, policy)),
                None => "reload: first policy".to_owned(),
            };
            let expected = current.as_ref().map_or(0, |c| c.version());
            match self
                .store
                .save(policy, expected, Change::new(who.clone(), summary))
                .await
            {
                Ok(saved) => return Ok(Some(saved.version())),
                Err(StoreError::Conflict { .. }) if races < 3 => races += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
