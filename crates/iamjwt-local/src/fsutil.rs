//! The local issuer's files (keys, principals, settings, published documents) are written with
//! [`iamjwt_fs::write_atomic`]: a reader sees the old file or the new one, never a torn one.

use crate::error::Error;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Takes the exclusive lock on `path` (created if missing) without waiting: `Ok(None)` when another open file holds
/// it (another process, or another handle in this one). The lock lasts as long as the returned file is open and
/// ends with the process, however it ends.
pub fn try_lock(path: &Path) -> Result<Option<File>, Error> {
    let dir = iamjwt_fs::parent(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// Writes `bytes` to `path` atomically, creating the directory first. `mode` applies to the new file (e.g.
/// `0o600` for secrets).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let dir = iamjwt_fs::parent(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    iamjwt_fs::write_atomic(path, bytes, mode).map_err(|e| Error::io(path, e))
}

/// Reads a file, `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    iamjwt_fs::read_optional(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_directory_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/secret.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        assert_eq!(read_optional(&p).unwrap(), Some(b"one".to_vec()));
        assert_eq!(read_optional(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn a_lock_is_exclusive_until_its_file_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let held = try_lock(&p).unwrap().expect("free at first");
        assert!(
            try_lock(&p).unwrap().is_none(),
            "a second handle must not get it"
        );
        drop(held);
        assert!(try_lock(&p).unwrap().is_some(), "free again once closed");
    }
}
