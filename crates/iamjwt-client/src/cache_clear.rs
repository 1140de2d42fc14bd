//! Emptying a token cache (`iamjwt cache clear`): after an emergency rotation, the cached tokens of the compromised
//! key are refused by verifiers until they age out, and the cache does not look at the JWKS.
//!
//! Kept apart from [`crate::cache`] (which reads and writes entries) because it only needs the directory and the
//! entry-name shape.

use crate::cache::TokenCache;
use crate::error::Error;

/// Whether `name` is an entry's file name: `KIND-<40 hex>.json` (what [`TokenCache`] writes).
fn is_entry(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    let Some((kind, hash)) = stem.split_once('-') else {
        return false;
    };
    !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_lowercase())
        && hash.len() == 40
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TokenCache {
    /// Removes every entry (tokens and role credentials); other files in the directory stay. Returns how many
    /// entries were removed.
    pub fn clear(&self) -> Result<usize, Error> {
        let dir = self.dir();
        let mut removed = 0;
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            if !entry.file_name().to_str().is_some_and(is_entry) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                // another process cleared it first
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheKey, Token, TokenRequest};

    #[test]
    fn clear_removes_every_entry_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::open(dir.path().join("iamjwt")).unwrap();
        let jwt = crate::jwt::tests::fake_token(1000, 1900, "");
        let token = Token::from_response(format!(r#"{{"token":"{jwt}"}}"#).as_bytes()).unwrap();
        let key = CacheKey::new(&TokenRequest::new("https://x.example.com"), "AKIA1");
        cache.put(&key, &token).unwrap();
        std::fs::write(cache.dir().join("notes.txt"), b"mine").unwrap();
        assert!(cache.get(&key, 1001).is_some());
        assert_eq!(cache.clear().unwrap(), 1);
        assert!(cache.get(&key, 1001).is_none());
        assert!(cache.dir().join("notes.txt").exists());
        assert_eq!(cache.clear().unwrap(), 0);
        assert!(is_entry(&format!("credentials-{}.json", "0".repeat(40))));
        assert!(!is_entry("token-abc.json") && !is_entry("token-x.tmp"));
    }
}
