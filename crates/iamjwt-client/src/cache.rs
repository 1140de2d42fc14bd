//! The on-disk token cache (DESIGN §10): `$XDG_CACHE_HOME/iamjwt` (else `~/.cache/iamjwt`), directory 0700, one
//! 0600 JSON file per key, written atomically. A file is used only if it parses, was written for exactly the same
//! key (the file name is a hash of the key; the key itself is stored and compared), and its token is still fresh
//! by the token's own `iat`/`exp`. Anything else is ignored and replaced on the next write.
//!
//! Another user must not be able to plant or swap an entry (issue 19 §6): the directory is refused when it is not
//! the user's (or root's) or others may write it without the sticky bit ([`iamjwt_fs::check_trusted_dir`]); files
//! are read without following a symlink; and a token is served only if its own `aud`, `alg` and lifetime are what
//! its key asked for, so an entry filed under one key but holding a token for another audience is a miss.

use crate::error::Error;
use crate::jwt::{self, TokenTimes};
use crate::token::{Token, TokenRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// A cached token is reused only while at least this many seconds remain.
pub const MIN_REMAINING_SECS: u64 = 60;
/// … and until this share (in %) of its lifetime has passed.
pub const REUSE_UNTIL_PERCENT: u64 = 80;
const FORMAT_VERSION: u32 = 1;

/// Whether a token with these times may still be handed out at `now` (seconds since the epoch).
pub fn token_is_fresh(t: &TokenTimes, now: u64) -> bool {
    let elapsed = now.saturating_sub(t.issued_at);
    now < t.expires_at
        && t.expires_at - now >= MIN_REMAINING_SECS
        && elapsed * 100 < t.lifetime() * REUSE_UNTIL_PERCENT
}

/// What a cached token is for: a different issuer, caller, audience list, algorithm or duration is a miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    pub url: String,
    pub access_key_id: String,
    pub audiences: Vec<String>,
    pub alg: Option<String>,
    pub duration: Option<u64>,
    /// Request tags end up in the token (`request_tags`): another set is another token.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl CacheKey {
    pub fn new(request: &TokenRequest, access_key_id: &str) -> Self {
        Self {
            url: request.url.trim_end_matches('/').to_owned(),
            access_key_id: access_key_id.to_owned(),
            audiences: request.audiences.clone(),
            alg: request.alg.clone(),
            duration: request.duration,
            tags: request.tags.clone(),
        }
    }
}

impl CacheKey {
    /// Whether `token` (with its `times`) is what this key asked for: the same audiences (when the key names
    /// any; none means the issuer's default), the same `alg` (when it names one), and a lifetime of exactly the
    /// `duration` asked (when it names one: the issuer sets `exp` = `iat` + duration).
    fn describes(&self, token: &str, times: &TokenTimes) -> bool {
        let aud_ok = self.audiences.is_empty()
            || jwt::audiences(token).is_ok_and(|mut a| {
                let mut want = self.audiences.clone();
                a.sort();
                want.sort();
                a == want
            });
        let alg_ok = self.alg.as_ref().is_none_or(|a| *a == times.alg);
        let exp_ok = self.duration.is_none_or(|d| times.lifetime() == d);
        aud_ok && alg_ok && exp_ok
    }
}

#[derive(Serialize, Deserialize)]
struct Entry<K, V> {
    version: u32,
    kind: String,
    key: K,
    value: V,
}

#[derive(Serialize, Deserialize)]
struct CachedToken {
    token: String,
    response: serde_json::Value,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// `$XDG_CACHE_HOME/iamjwt`, else `$HOME/.cache/iamjwt`.
    pub fn default_dir() -> Result<PathBuf, Error> {
        Self::default_dir_from(|k| std::env::var_os(k))
    }

    /// [`Self::default_dir`] with the environment as a parameter.
    pub fn default_dir_from(
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<PathBuf, Error> {
        let from = |v: &str| env(v).filter(|s| !s.is_empty()).map(PathBuf::from);
        if let Some(x) = from("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
            return Ok(x.join("iamjwt"));
        }
        from("HOME")
            .map(|h| h.join(".cache").join("iamjwt"))
            .ok_or_else(|| {
                Error::Usage(
                    "no cache directory: set XDG_CACHE_HOME or HOME, or pass --no-cache".into(),
                )
            })
    }

    /// Opens (creating it 0700 if needed) the cache at `dir`; refuses a directory others could write to
    /// ([`Error::Untrusted`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        iamjwt_fs::private_dir(&dir).map_err(|e| match iamjwt_fs::Untrusted::of(&e) {
            Some(u) => Error::Untrusted(format!("token cache {u}; or pass --no-cache")),
            None => Error::io(&dir, e),
        })?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path<K: Serialize>(&self, kind: &str, key: &K) -> Result<PathBuf, Error> {
        let bytes = serde_json::to_vec(&(kind, key))
            .map_err(|e| Error::Usage(format!("cache key: {e}")))?;
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(self.dir.join(format!("{kind}-{}.json", &hex[..40])))
    }

    /// The value stored for exactly `key`, if a readable, matching entry exists (freshness is the caller's).
    pub(crate) fn read<K, V>(&self, kind: &str, key: &K) -> Option<V>
    where
        K: Serialize + DeserializeOwned + PartialEq,
        V: DeserializeOwned,
    {
        let path = self.path(kind, key).ok()?;
        let bytes = match iamjwt_fs::read_no_follow(&path) {
            Ok(b) => b?,
            Err(err) => {
                // A symlink planted in place of the entry (ELOOP), or an unreadable file: a miss, replaced on write.
                tracing::debug!(path = %path.display(), "cache entry not read: {err}");
                return None;
            }
        };
        match serde_json::from_slice::<Entry<K, V>>(&bytes) {
            Ok(e) if e.version == FORMAT_VERSION && e.kind == kind && e.key == *key => {
                Some(e.value)
            }
            Ok(_) => {
                tracing::debug!(path = %path.display(), "cache entry is for another key; ignored");
                None
            }
            Err(err) => {
                tracing::debug!(path = %path.display(), "unreadable cache entry ignored: {err}");
                None
            }
        }
    }

    pub(crate) fn write<K: Serialize, V: Serialize>(
        &self,
        kind: &str,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        let path = self.path(kind, key)?;
        let entry = Entry {
            version: FORMAT_VERSION,
            kind: kind.to_owned(),
            key,
            value,
        };
        let bytes =
            serde_json::to_vec(&entry).map_err(|e| Error::Usage(format!("cache entry: {e}")))?;
        iamjwt_fs::write_atomic(&path, &bytes, 0o600).map_err(|e| Error::io(&path, e))
    }

    /// A token for `key` that is still fresh at `now` (seconds since the epoch).
    pub fn get(&self, key: &CacheKey, now: u64) -> Option<Token> {
        let cached: CachedToken = self.read("token", key)?;
        let times = jwt::parse(&cached.token).ok()?;
        if !token_is_fresh(&times, now) {
            return None;
        }
        if !key.describes(&cached.token, &times) {
            tracing::debug!(
                "cache entry holds a token for another audience, algorithm or lifetime; ignored"
            );
            return None;
        }
        // The stored response must describe the same token (no splicing of a foreign response).
        if cached.response.get("token").and_then(|t| t.as_str()) != Some(cached.token.as_str()) {
            return None;
        }
        Some(Token {
            jwt: cached.token,
            times,
            response: cached.response,
        })
    }

    pub fn put(&self, key: &CacheKey, token: &Token) -> Result<(), Error> {
        self.write(
            "token",
            key,
            &CachedToken {
                token: token.jwt.clone(),
                response: token.response.clone(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::fake_token;
    use std::os::unix::fs::PermissionsExt as _;

    fn key(aud: &str) -> CacheKey {
        CacheKey {
            url: "http://127.0.0.1:8080".into(),
            access_key_id: "AKIA1".into(),
            audiences: vec![aud.into()],
            alg: Some("ES256".into()),
            duration: Some(900),
            tags: Vec::new(),
        }
    }

    #[test]
    fn other_request_tags_are_another_token() {
        let mut r = TokenRequest::new("http://127.0.0.1:8080");
        let plain = CacheKey::new(&r, "AKIA1");
        r.tags.push(("job".into(), "42".into()));
        assert_ne!(CacheKey::new(&r, "AKIA1"), plain);
    }

    /// A token for `key("a")`'s audience.
    fn token(iat: u64, exp: u64) -> Token {
        token_for("a", iat, exp)
    }

    fn token_for(aud: &str, iat: u64, exp: u64) -> Token {
        let jwt = fake_token(iat, exp, &format!(r#"","aud":"{aud}"#));
        Token::from_response(
            serde_json::json!({"token": jwt, "expires_in": exp - iat})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn freshness_is_80_percent_and_60_seconds() {
        let t = |iat, exp| TokenTimes {
            alg: "ES256".into(),
            issued_at: iat,
            expires_at: exp,
        };
        // 900 s token: reusable until 720 s have passed.
        assert!(token_is_fresh(&t(1000, 1900), 1000));
        assert!(token_is_fresh(&t(1000, 1900), 1719));
        assert!(!token_is_fresh(&t(1000, 1900), 1720));
        // 60 s token: the 60 s floor binds one second in.
        assert!(token_is_fresh(&t(1000, 1060), 1000));
        assert!(!token_is_fresh(&t(1000, 1060), 1001));
        // 3600 s token: 60 s floor never binds before 80 %.
        assert!(token_is_fresh(&t(0, 3600), 2879));
        assert!(!token_is_fresh(&t(0, 3600), 2880));
        // expired, and iat in the future (skew) with little left
        assert!(!token_is_fresh(&t(0, 100), 200));
        assert!(token_is_fresh(&t(2000, 2900), 1990));
        assert!(!token_is_fresh(&t(2000, 2050), 1995));
    }

    #[test]
    fn hit_miss_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("iamjwt");
        let cache = TokenCache::open(&root).unwrap();
        assert_eq!(
            std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let t = token(1000, 1900);
        assert!(cache.get(&key("a"), 1000).is_none());
        cache.put(&key("a"), &t).unwrap();
        assert_eq!(cache.get(&key("a"), 1100).unwrap().jwt, t.jwt);
        assert!(cache.get(&key("b"), 1100).is_none(), "other audience");
        let mut other = key("a");
        other.access_key_id = "AKIA2".into();
        assert!(cache.get(&other, 1100).is_none(), "other caller");
        let mut other = key("a");
        other.alg = Some("RS256".into());
        assert!(cache.get(&other, 1100).is_none(), "other alg");
        assert!(cache.get(&key("a"), 1720).is_none(), "past 80 %");
        let files: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::open(dir.path()).unwrap();
        let path = cache.path("token", &key("a")).unwrap();
        for junk in [
            b"".to_vec(),
            b"{not json".to_vec(),
            br#"{"version":1,"kind":"token","key":{},"value":{}}"#.to_vec(),
        ] {
            std::fs::write(&path, junk).unwrap();
            assert!(cache.get(&key("a"), 1000).is_none());
        }
        // A well-formed entry for another key, copied under this key's name.
        cache.put(&key("b"), &token(1000, 1900)).unwrap();
        std::fs::copy(cache.path("token", &key("b")).unwrap(), &path).unwrap();
        assert!(cache.get(&key("a"), 1000).is_none());
        // A matching key whose token is not a JWT, or whose response names another token.
        let bad = serde_json::json!({"version":1,"kind":"token","key":key("a"),
            "value":{"token":"x.y.z","response":{"token":"x.y.z"}}});
        std::fs::write(&path, bad.to_string()).unwrap();
        assert!(cache.get(&key("a"), 1000).is_none());
        let t = token(1000, 1900);
        let spliced = serde_json::json!({"version":1,"kind":"token","key":key("a"),
            "value":{"token":t.jwt,"response":{"token":"other"}}});
        std::fs::write(&path, spliced.to_string()).unwrap();
        assert!(cache.get(&key("a"), 1000).is_none());
        // and the next put replaces it
        cache.put(&key("a"), &t).unwrap();
        assert_eq!(cache.get(&key("a"), 1000).unwrap().jwt, t.jwt);
    }

    /// An entry written in the right place by someone else: the key it is filed under matches, the token in it
    /// does not.
    fn plant(cache: &TokenCache, key: &CacheKey, t: &Token) {
        let e = serde_json::json!({"version":1,"kind":"token","key":key,
            "value":{"token":t.jwt,"response":t.response}});
        std::fs::write(cache.path("token", key).unwrap(), e.to_string()).unwrap();
    }

    /// Issue 19 §6: a cache entry planted for another audience, algorithm or lifetime is not served, and the next
    /// write replaces it.
    #[test]
    fn a_planted_entry_for_another_audience_alg_or_lifetime_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::open(dir.path().join("c")).unwrap();
        plant(
            &cache,
            &key("a"),
            &token_for("https://attacker.example", 1000, 1900),
        );
        assert!(cache.get(&key("a"), 1100).is_none(), "another audience");
        let mut two = key("a");
        two.audiences = vec!["a".into(), "b".into()];
        plant(&cache, &two, &token(1000, 1900));
        assert!(cache.get(&two, 1100).is_none(), "one audience of two");
        let mut rs = key("a");
        rs.alg = Some("RS256".into());
        plant(&cache, &rs, &token(1000, 1900));
        assert!(
            cache.get(&rs, 1100).is_none(),
            "another alg (the token is ES256)"
        );
        plant(&cache, &key("a"), &token(1000, 4600));
        assert!(cache.get(&key("a"), 1100).is_none(), "an hour for 900 s");
        // what the key asked for is served; a key without audiences, alg or duration takes the issuer's defaults
        plant(&cache, &key("a"), &token(1000, 1900));
        assert!(cache.get(&key("a"), 1100).is_some());
        let mut defaults = key("a");
        defaults.audiences.clear();
        defaults.alg = None;
        defaults.duration = None;
        plant(&cache, &defaults, &token(1000, 4600));
        assert!(cache.get(&defaults, 1100).is_some());
        // replaced by the next write
        plant(&cache, &key("a"), &token_for("b", 1000, 1900));
        assert!(cache.get(&key("a"), 1100).is_none());
        cache.put(&key("a"), &token(1000, 1900)).unwrap();
        assert!(cache.get(&key("a"), 1100).is_some());
    }

    /// Issue 19 §6: a symlink planted where an entry should be (pointing at an entry someone else controls) is
    /// not followed, and the next write replaces the link, not its target.
    #[test]
    fn a_symlinked_entry_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::open(dir.path().join("c")).unwrap();
        let elsewhere = TokenCache::open(dir.path().join("other")).unwrap();
        elsewhere.put(&key("a"), &token(1000, 1900)).unwrap();
        let target = elsewhere.path("token", &key("a")).unwrap();
        let before = std::fs::read(&target).unwrap();
        let link = cache.path("token", &key("a")).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(cache.get(&key("a"), 1100).is_none());
        cache.put(&key("a"), &token(1000, 1800)).unwrap();
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "the link's target is untouched"
        );
    }

    /// Issue 19 §6: a cache directory others may write to (no sticky bit) is refused, in one line naming the fix.
    #[test]
    fn a_world_writable_cache_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("iamjwt");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = TokenCache::open(&root).unwrap_err();
        assert!(matches!(e, Error::Untrusted(_)), "{e:?}");
        let m = e.to_string();
        assert!(
            m.contains("chmod go-w") && m.contains("--no-cache") && !m.contains('\n'),
            "{m}"
        );
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777)).unwrap();
        TokenCache::open(&root).unwrap();
    }

    #[test]
    fn default_dir_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let d = |p| TokenCache::default_dir_from(env(p));
        assert_eq!(
            d(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]).unwrap(),
            Path::new("/x/iamjwt")
        );
        assert_eq!(
            d(&[("XDG_CACHE_HOME", ""), ("HOME", "/h")]).unwrap(),
            Path::new("/h/.cache/iamjwt")
        );
        // a relative XDG_CACHE_HOME is invalid per the spec: ignored
        assert_eq!(
            d(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]).unwrap(),
            Path::new("/h/.cache/iamjwt")
        );
        assert!(d(&[]).is_err());
    }
}
