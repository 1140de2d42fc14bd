//! The local issuer's files (keys, principals, settings, published documents) are written with
//! [`iamjwt_fs::write_atomic`]: a reader sees the old file or the new one, never a torn one.

use crate::error::Error;
use std::path::Path;

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
}
