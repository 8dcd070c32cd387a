//! The embedded store: the policy's versions as files in a data directory.
//!
//! Layout: `DIR/versions/NNNNNNNNNNNNNNNNNNNN.json`, one file per version
//! (zero-padded so names sort by version), holding the audit record as one
//! JSON line followed by the policy document verbatim. The current version is
//! the highest-numbered file. Each file appears whole, through a crash-safe
//! write (temporary file, fsync, rename, fsync of the directory), so a
//! process killed at any moment leaves the previous version current or the
//! new one, never a torn file. Writers —
//! in this process or others sharing the directory — are serialized by an
//! exclusive lock on `DIR/lock`, under which the compare-and-set is checked.
//! The last `history` versions are kept; older files are removed after each
//! write (never the current one).

use crate::error::StoreError;
use crate::fsutil::{self, blocking};
use crate::model::{Change, StoredPolicy, VersionMeta, decode_entry, decode_meta, encode_entry, validated_document};
use crate::store::{Connection, Current, PolicyStore, StatusCell, StoreStatus, announce};
use graygate_policy::Policy;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// Options of an [`EmbeddedStore`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// How many versions to keep (at least 1). Default 50.
    pub history: usize,
    /// When set, the directory is re-read this often so that changes written by
    /// another process reach [`PolicyStore::watch`]. Default: off.
    pub poll_interval: Option<Duration>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            history: 50,
            poll_interval: None,
        }
    }
}

/// A [`PolicyStore`] in a local directory; no server needed. See the module docs.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    versions: PathBuf,
    keep: usize,
    /// Serializes this process's writers (the file lock serializes processes).
    write: Mutex<()>,
    tx: watch::Sender<Current>,
    status: StatusCell,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, removing temporary files
    /// left by writers that were killed.
    pub async fn open(dir: impl Into<PathBuf>, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let dir = dir.into();
        let versions = dir.join("versions");
        let current = {
            let (dir, versions) = (dir.clone(), versions.clone());
            blocking(move || {
                fs::create_dir_all(&versions)?;
                // Under the writers' lock: a temporary file is then a dead
                // writer's, never one being written.
                let _lock = lock_dir(&dir)?;
                fsutil::remove_temp_files(&versions)?;
                read_current(&versions)
            })
            .await?
        };
        let status = StatusCell::new(Connection::Connected);
        if let Some(c) = &current {
            status.version(c.version());
        }
        let inner = Arc::new(Inner {
            dir,
            versions,
            keep: options.history.max(1),
            write: Mutex::new(()),
            tx: watch::Sender::new(current.map(Arc::new)),
            status,
        });
        if let Some(every) = options.poll_interval {
            tokio::spawn(poll(Arc::downgrade(&inner), every));
        }
        Ok(EmbeddedStore { inner })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

/// Re-reads the directory every `every` until the store is dropped.
async fn poll(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let versions = inner.versions.clone();
        let known = inner.tx.borrow().as_ref().map_or(0, |c| c.version());
        // List the directory; read a document only when there is a newer one.
        let newer = blocking(move || {
            let newest = list_versions(&versions)?.last().copied().unwrap_or(0);
            if newest > known {
                read_current(&versions)
            } else {
                Ok(None)
            }
        });
        match newer.await {
            Ok(Some(current)) => {
                inner.status.version(current.version());
                announce(&inner.tx, Arc::new(current));
            }
            Ok(None) => {}
            Err(e) => inner.status.error(e),
        }
    }
}

#[async_trait::async_trait]
impl PolicyStore for EmbeddedStore {
    async fn load(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let versions = self.inner.versions.clone();
        blocking(move || read_current(&versions)).await
    }

    async fn save(&self, policy: &Policy, expected: u64, change: Change) -> Result<StoredPolicy, StoreError> {
        let version = expected + 1;
        let document: Arc<str> = validated_document(policy, version)?.into();
        let stored = StoredPolicy {
            meta: VersionMeta::new(version, &change),
            document,
        };
        let _guard = self.inner.write.lock().await;
        let (dir, versions, keep) = (self.inner.dir.clone(), self.inner.versions.clone(), self.inner.keep);
        let entry = stored.clone();
        blocking(move || write_version(&dir, &versions, keep, &entry)).await?;
        self.inner.status.version(version);
        announce(&self.inner.tx, Arc::new(stored.clone()));
        Ok(stored)
    }

    async fn history(&self, limit: usize) -> Result<Vec<VersionMeta>, StoreError> {
        let versions = self.inner.versions.clone();
        blocking(move || {
            let mut out = Vec::new();
            for v in list_versions(&versions)?.into_iter().rev() {
                if out.len() >= limit {
                    break;
                }
                match read_meta(&versions, v) {
                    Ok(meta) => out.push(meta),
                    // Trimmed by a concurrent writer since we listed it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get(&self, version: u64) -> Result<Option<StoredPolicy>, StoreError> {
        let versions = self.inner.versions.clone();
        blocking(move || match read_version(&versions, version) {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::Unavailable(_)) if !file_of(&versions, version).exists() => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    fn watch(&self) -> watch::Receiver<Current> {
        self.inner.tx.subscribe()
    }

    fn status(&self) -> StoreStatus {
        self.inner.status.get()
    }
}

/// Under the directory lock: checks the compare-and-set, writes the version
/// file, trims old versions.
fn write_version(dir: &Path, versions: &Path, keep: usize, entry: &StoredPolicy) -> Result<(), StoreError> {
    let _lock = lock_dir(dir)?;
    let listed = list_versions(versions)?;
    let current = listed.last().copied().unwrap_or(0);
    let expected = entry.version() - 1;
    if current != expected {
        return Err(StoreError::Conflict { expected, current });
    }
    fsutil::write_atomic(versions, &file_name(entry.version()), &encode_entry(entry)?)?;
    let excess = (listed.len() + 1).saturating_sub(keep);
    if excess > 0 {
        for v in &listed[..excess] {
            fs::remove_file(file_of(versions, *v))?;
        }
        fsutil::sync_dir(versions)?;
    }
    Ok(())
}

/// Takes the directory's exclusive writer lock; released when the file is
/// closed (also when the process dies).
fn lock_dir(dir: &Path) -> io::Result<File> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    lock.lock()?;
    Ok(lock)
}

fn file_name(version: u64) -> String {
    format!("{version:020}.json")
}

fn file_of(versions: &Path, version: u64) -> PathBuf {
    versions.join(file_name(version))
}

/// The versions present, ascending.
fn list_versions(versions: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(versions)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(v) = name.strip_suffix(".json").and_then(|n| n.parse::<u64>().ok()) {
            out.push(v);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The highest version that reads whole. A file that does not (only possible
/// if something other than this store wrote it) is skipped with a warning.
fn read_current(versions: &Path) -> Result<Option<StoredPolicy>, StoreError> {
    for v in list_versions(versions)?.into_iter().rev() {
        match read_version(versions, v) {
            Ok(stored) => return Ok(Some(stored)),
            Err(StoreError::Unavailable(_)) if !file_of(versions, v).exists() => {
                // Trimmed under us: a newer version exists; list again.
                return read_current(versions);
            }
            Err(e) => tracing::warn!(version = v, error = %e, "skipping unreadable policy version"),
        }
    }
    Ok(None)
}

fn read_meta(versions: &Path, version: u64) -> io::Result<VersionMeta> {
    let mut line = String::new();
    BufReader::new(File::open(file_of(versions, version))?).read_line(&mut line)?;
    decode_meta(&line, Some(version)).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

fn read_version(versions: &Path, version: u64) -> Result<StoredPolicy, StoreError> {
    let text = fs::read_to_string(file_of(versions, version))?;
    decode_entry(&text, Some(version))
}

#[cfg(test)]
mod tests;
