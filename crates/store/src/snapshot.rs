//! Fail-static: the last applied policy version, kept on local disk.
//!
//! A gateway whose store is Redis keeps a copy of every version it applies
//! (written crash-safely, like the embedded store) and, when it restarts while
//! Redis is unreachable, starts from that copy instead of refusing to serve.
//! [`SnapshotCache::follow`] wires this in: the receiver it returns starts
//! with the cached snapshot, then carries each newer version the store
//! announces, and each one is saved before the next is read.

use crate::error::StoreError;
use crate::fsutil::{self, blocking};
use crate::model::{StoredPolicy, decode_entry, encode_entry};
use crate::store::{Current, PolicyStore, announce};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

const FILE: &str = "snapshot.json";

/// The local copy of the last applied version. See the module docs.
#[derive(Debug, Clone)]
pub struct SnapshotCache {
    dir: PathBuf,
}

impl SnapshotCache {
    /// A cache in `dir` (created if missing; the file is `dir/snapshot.json`).
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let d = dir.clone();
        blocking(move || {
            std::fs::create_dir_all(&d)?;
            fsutil::remove_temp_files(&d)?;
            Ok(())
        })
        .await?;
        Ok(SnapshotCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached snapshot, or `None` when there is none yet.
    pub async fn load(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let path = self.dir.join(FILE);
        blocking(move || match std::fs::read_to_string(&path) {
            Ok(text) => decode_entry(&text, None).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    /// Replaces the cached snapshot, crash-safely.
    pub async fn save(&self, stored: &StoredPolicy) -> Result<(), StoreError> {
        let bytes = encode_entry(stored)?;
        let dir = self.dir.clone();
        blocking(move || Ok(fsutil::write_atomic(&dir, FILE, &bytes)?)).await
    }

    /// Follows `store`: the returned receiver holds the cached snapshot (or
    /// the store's current version if newer), then each newer version the
    /// store announces; every version it carries has been saved here first
    /// (a failed save is logged and does not hold the version back). The
    /// task ends when the store is dropped or every receiver is.
    pub async fn follow(&self, store: &dyn PolicyStore) -> watch::Receiver<Current> {
        let cached = match self.load().await {
            Ok(c) => c.map(Arc::new),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable policy snapshot");
                None
            }
        };
        let (tx, rx) = watch::channel(cached);
        let mut source = store.watch();
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                let next = source.borrow_and_update().clone();
                if let Some(next) = next {
                    let newer = tx.borrow().as_ref().is_none_or(|c| c.version() < next.version());
                    if newer {
                        if let Err(e) = cache.save(&next).await {
                            tracing::warn!(error = %e, version = next.version(), "could not save policy snapshot");
                        }
                        announce(&tx, next);
                    }
                }
                tokio::select! {
                    changed = source.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VersionMeta;

    fn stored(version: u64) -> StoredPolicy {
        StoredPolicy {
            meta: VersionMeta {
                version,
                who: "ana".into(),
                when_ms: 1,
                summary: "s".into(),
            },
            document: "{\"groups\":{}}".into(),
        }
    }

    #[tokio::test]
    async fn a_saved_snapshot_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SnapshotCache::open(dir.path()).await.unwrap();
        assert!(cache.load().await.unwrap().is_none());
        cache.save(&stored(7)).await.unwrap();
        cache.save(&stored(8)).await.unwrap();
        assert_eq!(cache.load().await.unwrap().unwrap(), stored(8));
    }
}
