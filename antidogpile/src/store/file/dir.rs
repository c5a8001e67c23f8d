//! The directory: where each key's file is, atomic replacement, and the
//! per-key advisory lock.
//!
//! `<root>/<first two hex digits>/<32 hex digits of the fingerprint>`: names
//! come from the fingerprint only, so no key or namespace can reach outside
//! the directory or make an unsafe name, and no directory grows past what
//! 256 shards hold.
//!
//! A file is only ever replaced whole (a temporary file in the same shard
//! directory, then `rename`), so a reader sees the old bytes or the new ones.
//! Every change to a key's path (replace or unlink) is made holding an
//! exclusive `flock` on the file the path names at that moment; a locker
//! checks after locking that the path still names the file it locked, and
//! starts again if not. The lock is therefore on the key, across threads and
//! processes, with no lock file left behind.
//!
//! Only regular files are read: a key's path is opened without following a
//! symlink and without blocking, and anything else found there (a FIFO, a
//! device, a socket, a symlink) is garbage that reads as nothing and is
//! removed by the next lock, so that a write puts a file in its place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::key::Fingerprint;

/// Temporary files start with this; a sweep removes old ones.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Numbers this process's temporary files (with the process id, their
/// names are unique: several stores may share a directory in one process).
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// The store's directory.
#[derive(Clone, Debug)]
pub(crate) struct Dir {
    root: PathBuf,
}

/// A key's file, locked: the path names this very file until the lock is dropped.
#[derive(Debug)]
pub(crate) struct Locked {
    file: File,
    path: PathBuf,
}

impl Dir {
    /// The directory at `root`, created if needed.
    pub(crate) fn create(root: PathBuf) -> io::Result<Dir> {
        fs::create_dir_all(&root)?;
        Ok(Dir { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that a file can be created, written and removed at the root
    /// (a temporary file, removed at once).
    pub(crate) fn probe(&self) -> io::Result<()> {
        let probe = self.root.join(format!(
            "{TEMP_PREFIX}ping-{}-{}",
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut file| file.write_all(b"ping"));
        let removed = fs::remove_file(&probe);
        written.and(removed)
    }

    /// The shard directory of `fingerprint`.
    pub(crate) fn shard(&self, fingerprint: Fingerprint) -> PathBuf {
        self.root.join(&file_name(fingerprint)[..2])
    }

    /// The file of `fingerprint`.
    pub(crate) fn path(&self, fingerprint: Fingerprint) -> PathBuf {
        let name = file_name(fingerprint);
        self.root.join(&name[..2]).join(name)
    }

    /// The bytes of `fingerprint`'s file, without a lock (files are only
    /// replaced whole); `None` if there is none. A file longer than `limit`
    /// reads as no bytes at all, which decode as nothing.
    pub(crate) fn read(&self, fingerprint: Fingerprint, limit: u64) -> io::Result<Option<Vec<u8>>> {
        match open_regular(OpenOptions::new().read(true), &self.path(fingerprint))? {
            Opened::File(mut file) => read_all(&mut file, limit).map(Some),
            Opened::Missing => Ok(None),
            Opened::Special => Ok(Some(Vec::new())),
        }
    }

    /// Locks `fingerprint`'s file, creating an empty one (which decodes as
    /// nothing) if `create` and there is none; `None` if there is none and
    /// not `create`. Blocks while another thread or process holds it.
    pub(crate) fn lock(
        &self,
        fingerprint: Fingerprint,
        create: bool,
    ) -> io::Result<Option<Locked>> {
        let path = self.path(fingerprint);
        loop {
            let opened = open_regular(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(create)
                    .truncate(false),
                &path,
            )?;
            let file = match opened {
                Opened::File(file) => file,
                Opened::Missing => {
                    if !create {
                        return Ok(None);
                    }
                    fs::create_dir_all(self.shard(fingerprint))?;
                    continue;
                }
                Opened::Special => {
                    remove_special(&path)?;
                    if !create {
                        return Ok(None);
                    }
                    continue;
                }
            };
            lock_exclusive(&file)?;
            if still_named_by(&file, &path)? {
                return Ok(Some(Locked { file, path }));
            }
            // Replaced or removed while we waited: lock what the path names now.
        }
    }

    /// Replaces the locked file with `bytes`: a temporary file, then a rename.
    /// (No fsync: a cache loses nothing that matters in a crash, and a file
    /// left short or empty by one decodes as nothing.)
    pub(crate) fn replace(&self, locked: &Locked, bytes: &[u8]) -> io::Result<()> {
        let shard = locked.path.parent().unwrap_or(&self.root);
        let temp = shard.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&temp, &locked.path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

impl Locked {
    /// The locked file's bytes (see [`Dir::read`] for `limit`).
    pub(crate) fn contents(&mut self, limit: u64) -> io::Result<Vec<u8>> {
        read_all(&mut self.file, limit)
    }

    /// Removes the locked file.
    pub(crate) fn remove(&self) -> io::Result<()> {
        match fs::remove_file(&self.path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// What a key's path names.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A regular file, opened.
    File(File),
    /// Nothing.
    Missing,
    /// Something else: a FIFO, a device, a socket, a symlink (not followed).
    Special,
}

/// Opens the regular file at `path` with `options`, without following a
/// symlink and without blocking: opening or reading a FIFO with no writer
/// would wait forever, and a symlink to a device would be read as a value.
pub(crate) fn open_regular(options: &mut OpenOptions, path: &Path) -> io::Result<Opened> {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK changes nothing for a regular file, which is all that is read.
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    match options.open(path) {
        Ok(file) if file.metadata()?.is_file() => Ok(Opened::File(file)),
        Ok(_) => Ok(Opened::Special),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Opened::Missing),
        Err(error) if names_a_special_file(&error) => Ok(Opened::Special),
        Err(error) => Err(error),
    }
}

/// Whether opening failed because the path names a symlink (`O_NOFOLLOW`)
/// or a FIFO or socket that cannot be opened this way.
#[cfg(unix)]
fn names_a_special_file(error: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::LOOP, Errno::NXIO, Errno::OPNOTSUPP]
        .iter()
        .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()))
}

#[cfg(not(unix))]
fn names_a_special_file(_: &io::Error) -> bool {
    false
}

/// Removes the special file at `path` (never a regular file or a directory:
/// it looks again first, as another process may have put a file there).
pub(crate) fn remove_special(path: &Path) -> io::Result<()> {
    let special = fs::symlink_metadata(path).is_ok_and(|found| !found.is_file() && !found.is_dir());
    if !special {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The file name of `fingerprint`: 32 lowercase hex digits.
pub(crate) fn file_name(fingerprint: Fingerprint) -> String {
    format!("{:032x}", fingerprint.as_u128())
}

/// The fingerprint a file name stands for, if it is one of ours.
pub(crate) fn fingerprint_of_name(name: &str) -> Option<Fingerprint> {
    let lowercase_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if name.len() != 32 || !name.bytes().all(lowercase_hex) {
        return None;
    }
    u128::from_str_radix(name, 16)
        .ok()
        .map(Fingerprint::from_u128)
}

/// Whether `name` is a shard directory's.
pub(crate) fn is_shard_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn read_all(file: &mut File, limit: u64) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    if len > limit {
        return Ok(Vec::new());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        bytes.clear();
    }
    Ok(bytes)
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> io::Result<()> {
    use rustix::fs::{flock, FlockOperation};
    loop {
        match flock(file, FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            locked => return locked.map_err(io::Error::from),
        }
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_: &File) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the file store locks files with flock, which this platform lacks",
    ))
}

/// Whether `path` still names `file` (it was not replaced or removed).
#[cfg(unix)]
fn still_named_by(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(not(unix))]
fn still_named_by(_: &File, _: &Path) -> io::Result<bool> {
    Ok(false)
}
