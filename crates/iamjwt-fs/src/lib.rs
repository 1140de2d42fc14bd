//! Crash-safe file writes, shared by the local issuer (keys, principals, the published documents) and the
//! workload client (token cache, agent token files): a reader sees the old file or the new one, never a torn or
//! empty one. Unix only (modes and owners are set exactly).
//!
//! It also decides which directories may hold a user's secrets at all ([`check_trusted_dir`], the rule of ssh's
//! `StrictModes`), and reads and creates files without following a symlink planted in their place (`O_NOFOLLOW`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Who owns a written file: a user and/or a group; `None` keeps the writer's. Changing the user needs root (or
/// `CAP_CHOWN`); a non-root writer may only pick one of its own groups. [`probe_dir`] proves it at start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Owner {
    /// `USER`, `USER:GROUP` or `:GROUP`, as names or numeric ids (`65534:65534`). Names are looked up now, in the
    /// system's user and group databases, so a typo fails at start.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        if group == Some("") {
            return Err(format!(
                "{spec:?}: give a group after ':' (USER:GROUP or :GROUP)"
            ));
        }
        let uid = match user {
            "" if group.is_some() => None,
            "" => return Err("empty owner: give USER, USER:GROUP or :GROUP".into()),
            u => Some(id_of("user", "uid", u, |n| {
                Ok(nix::unistd::User::from_name(n)?.map(|x| x.uid.as_raw()))
            })?),
        };
        let gid = match group {
            None => None,
            Some(g) => Some(id_of("group", "gid", g, |n| {
                Ok(nix::unistd::Group::from_name(n)?.map(|x| x.gid.as_raw()))
            })?),
        };
        Ok(Self { uid, gid })
    }

    /// Nothing to change: the file belongs to the writer.
    pub fn is_writer(&self) -> bool {
        *self == Self::default()
    }

    fn apply(&self, f: &File) -> io::Result<()> {
        if self.is_writer() {
            return Ok(());
        }
        std::os::unix::fs::fchown(f, self.uid, self.gid)
    }
}

/// `name` as a numeric id, else looked up with `by_name` (`kind` "user" or "group", `id` "uid" or "gid").
fn id_of(
    kind: &str,
    id: &str,
    name: &str,
    by_name: impl Fn(&str) -> nix::Result<Option<u32>>,
) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    by_name(name)
        .map_err(|e| format!("cannot look up {kind} {name:?}: {e}"))?
        .ok_or_else(|| format!("no {kind} {name:?} on this system (a numeric {id} also works)"))
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = |v: Option<u32>| v.map_or_else(|| "unchanged".to_owned(), |v| v.to_string());
        write!(f, "uid {}, gid {}", id(self.uid), id(self.gid))
    }
}

/// A fresh temp file name beside `name` in `dir` (hidden, random, `.tmp`).
fn temp_in(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(dir.join(format!(".{name}.{:016x}.tmp", u64::from_le_bytes(nonce))))
}

/// `O_NOFOLLOW`: opening a path whose last component is a symlink fails (`ELOOP`) instead of following it.
fn no_follow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

/// Creates `tmp` (it must not exist) with exactly `mode` whatever the umask, owned by `owner`.
fn create_exact(tmp: &Path, mode: u32, owner: Owner) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(no_follow())
        .mode(mode)
        .open(tmp)?;
    owner.apply(&f)?;
    // The umask may have narrowed the mode (and a change of owner may clear set-id bits); set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory (created with `mode`, then set to
/// exactly `mode` whatever the umask), fsync, rename over `path`, fsync the directory. The directory must exist.
/// On failure the temp file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_as(path, bytes, mode, Owner::default())
}

/// [`write_atomic`], the file owned by `owner` from the moment it appears under `path`.
pub fn write_atomic_as(path: &Path, bytes: &[u8], mode: u32, owner: Owner) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let tmp = temp_in(dir, name)?;
    let result = (|| {
        let mut f = create_exact(&tmp, mode, owner)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Proves that [`write_atomic_as`] can work in `dir` with `mode` and `owner`: creates a temp file there the same
/// way, then removes it. For programs that must refuse at start what would fail at the first write.
pub fn probe_dir(dir: &Path, mode: u32, owner: Owner) -> io::Result<()> {
    let tmp = temp_in(dir, "iamjwt-probe")?;
    let result = create_exact(&tmp, mode, owner).map(drop);
    let removed = fs::remove_file(&tmp);
    match (result, removed) {
        (Err(e), _) => Err(e),
        (Ok(()), r) => r,
    }
}

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Why a directory may not hold a user's secrets: [`check_trusted_dir`]'s refusal, carried inside an
/// [`io::Error`] (kind `PermissionDenied`) so that callers can tell it from a failure to read.
#[derive(Debug)]
pub struct Untrusted {
    pub dir: PathBuf,
    pub why: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is refused: {}", self.dir.display(), self.why)
    }
}

impl std::error::Error for Untrusted {}

impl Untrusted {
    /// The refusal inside `e`, if `e` is one.
    pub fn of(e: &io::Error) -> Option<&Self> {
        e.get_ref().and_then(|i| i.downcast_ref::<Self>())
    }
}

/// Refuses a directory that another user could use to plant or swap files (ssh's `StrictModes`): one not owned by
/// this process's user or root, or writable by group or others without the sticky bit (`/tmp` has it: others may
/// add files but never replace ours). A symlinked directory is judged by what it points to.
pub fn check_trusted_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let m = fs::metadata(dir)?;
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            Untrusted {
                dir: dir.to_owned(),
                why,
            },
        ))
    };
    if !m.is_dir() {
        return refuse("not a directory".into());
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if m.uid() != me && m.uid() != 0 {
        return refuse(format!(
            "owned by uid {}, not by you (uid {me}) or root; use a directory of your own",
            m.uid()
        ));
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return refuse(format!(
            "mode {mode:04o} lets other users replace its files; chmod go-w {} (or use another directory)",
            dir.display()
        ));
    }
    Ok(())
}

/// Creates `dir` (and parents) 0700, refuses it if [`check_trusted_dir`] does, and makes it 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    check_trusted_dir(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Reads a file, `None` if it does not exist (any other error is an error).
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`read_optional`] without following a symlink in the last component: a link planted where a file of ours
/// should be is an error (`ELOOP`), never a read of what it points to.
pub fn read_no_follow(path: &Path) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_and_sets_mode_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(mode(&p), 0o644);
        write_atomic(&p, b"three", 0o600).unwrap();
        assert_eq!(mode(&p), 0o600);
        // no temp files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("missing/x"), b"", 0o600).is_err());
        // rename onto a directory fails after the temp was written: the temp is removed
        let target = dir.path().join("adir");
        fs::create_dir(target.join("")).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        assert!(write_atomic(&target, b"new", 0o600).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(Path::new("/"), b"", 0o600).is_err());
    }

    fn ids(p: &Path) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt as _;
        let m = fs::metadata(p).unwrap();
        (m.uid(), m.gid())
    }

    #[test]
    fn owner_specs_parse_names_and_ids_and_refuse_the_rest() {
        let o = |s: &str| Owner::parse(s);
        assert_eq!(
            o("1000"),
            Ok(Owner {
                uid: Some(1000),
                gid: None
            })
        );
        assert_eq!(
            o("1000:2000"),
            Ok(Owner {
                uid: Some(1000),
                gid: Some(2000)
            })
        );
        assert_eq!(
            o(":2000"),
            Ok(Owner {
                uid: None,
                gid: Some(2000)
            })
        );
        // every Unix system has root (uid 0) and its group 0
        assert_eq!(
            o("root:0"),
            Ok(Owner {
                uid: Some(0),
                gid: Some(0)
            })
        );
        assert!(o("").unwrap_err().contains("empty owner"));
        assert!(o("1000:").unwrap_err().contains("give a group after"));
        let e = o("no-such-user-iamjwt").unwrap_err();
        assert!(e.contains("no user \"no-such-user-iamjwt\""), "{e}");
        let e = o(":no-such-group-iamjwt").unwrap_err();
        assert!(e.contains("no group"), "{e}");
        assert!(Owner::default().is_writer());
        assert_eq!(o("7:8").unwrap().to_string(), "uid 7, gid 8");
        assert_eq!(o(":8").unwrap().to_string(), "uid unchanged, gid 8");
    }

    #[test]
    fn owned_writes_set_the_owner_or_fail_cleanly_without_the_right() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        let (me, my_group) = ids(dir.path());
        // giving a file to oneself always works
        let mine = Owner {
            uid: Some(me),
            gid: Some(my_group),
        };
        probe_dir(dir.path(), 0o640, mine).unwrap();
        write_atomic_as(&p, b"one", 0o640, mine).unwrap();
        assert_eq!((ids(&p), mode(&p)), ((me, my_group), 0o640));
        // another user (nobody for root, root for anyone else): only root (CAP_CHOWN) may; without the right,
        // nothing changes and no temp is left
        let root = nix::unistd::Uid::effective().is_root();
        let other = if root { 65534 } else { 0 };
        let someone_else = Owner {
            uid: Some(other),
            gid: Some(other),
        };
        let probe = probe_dir(dir.path(), 0o640, someone_else);
        let write = write_atomic_as(&p, b"two", 0o640, someone_else);
        if root {
            probe.unwrap();
            write.unwrap();
            assert_eq!(ids(&p), (other, other));
            assert_eq!(fs::read(&p).unwrap(), b"two");
            assert_eq!(mode(&p), 0o640, "the mode survives the change of owner");
        } else {
            assert_eq!(probe.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
            assert_eq!(write.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
            assert_eq!(fs::read(&p).unwrap(), b"one");
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp or probe file left"
        );
        // a directory that does not exist fails the probe
        assert!(probe_dir(&dir.path().join("missing"), 0o600, Owner::default()).is_err());
    }

    #[test]
    fn private_dir_is_0700_and_read_optional_tells_missing_from_broken() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        assert_eq!(read_optional(&d.join("none")).unwrap(), None);
        fs::write(d.join("f"), b"1").unwrap();
        assert_eq!(read_optional(&d.join("f")).unwrap(), Some(b"1".to_vec()));
        assert!(
            read_optional(&d).is_err(),
            "a directory is not a missing file"
        );
        assert_eq!(parent(Path::new("x")), Path::new("."));
    }

    /// Issue 19 §6: a directory where another user can plant or swap files is refused, like ssh's StrictModes.
    #[test]
    fn directories_others_can_write_without_the_sticky_bit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("cache");
        fs::create_dir(&d).unwrap();
        for (bits, ok) in [
            (0o700, true),
            (0o755, true),
            (0o1777, true),
            (0o777, false),
            (0o770, false),
            (0o702, false),
        ] {
            fs::set_permissions(&d, fs::Permissions::from_mode(bits)).unwrap();
            let r = check_trusted_dir(&d);
            assert_eq!(r.is_ok(), ok, "{bits:o}: {r:?}");
            if let Err(e) = r {
                let u = Untrusted::of(&e).expect("a refusal, not an I/O error");
                let m = u.to_string();
                assert!(m.contains("chmod go-w") && !m.contains('\n'), "{m}");
            }
        }
        // private_dir refuses what it finds world-writable rather than quietly fixing it after others had a go
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(Untrusted::of(&private_dir(&d).unwrap_err()).is_some());
        assert_eq!(mode(&d), 0o777);
        // a file is no directory; /tmp (root, sticky) and / (root) are fine
        fs::write(dir.path().join("f"), b"").unwrap();
        assert!(check_trusted_dir(&dir.path().join("f")).is_err());
        check_trusted_dir(Path::new("/")).unwrap();
    }

    /// Issue 19 §6: a symlink planted where a cache file should be is not followed.
    #[test]
    fn reads_do_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, b"planted").unwrap();
        let link = dir.path().join("entry.json");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert!(read_no_follow(&link).is_err());
        assert_eq!(
            read_no_follow(&elsewhere).unwrap(),
            Some(b"planted".to_vec())
        );
        assert_eq!(read_no_follow(&dir.path().join("none")).unwrap(), None);
        // the next atomic write replaces the link itself, never what it points to
        write_atomic(&link, b"ours", 0o600).unwrap();
        assert_eq!(fs::read(&elsewhere).unwrap(), b"planted");
        assert_eq!(read_no_follow(&link).unwrap(), Some(b"ours".to_vec()));
    }
}
