//! Crash-safe file replacement: the one write path of the embedded store and
//! the snapshot cache.
//!
//! A file is written under a temporary name in the same directory, flushed to
//! disk, renamed over its final name (atomic on POSIX file systems), and then
//! the directory itself is flushed so the rename survives a power cut. A
//! process killed at any point leaves either the old file or the new one,
//! never a mix; a leftover temporary file is ignored by readers and removed by
//! [`remove_temp_files`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The suffix every temporary file carries.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `dir/name` atomically and durably (see the module docs).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}{TEMP_SUFFIX}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes a directory's entries (creations, renames, removals) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes temporary files left by writers that were killed mid-write.
pub(crate) fn remove_temp_files(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Runs file I/O off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::StoreError> + Send + 'static,
) -> Result<T, crate::StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::StoreError::Unavailable(format!("file task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_a_file_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"one").unwrap();
        write_atomic(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn leftover_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(format!(".a.json.1.0{TEMP_SUFFIX}")), b"torn").unwrap();
        write_atomic(dir.path(), "a.json", b"whole").unwrap();
        remove_temp_files(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
