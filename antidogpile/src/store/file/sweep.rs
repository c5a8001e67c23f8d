//! Deleting what expired: every shard directory is listed, each file's
//! header read (not its body), and an expired or undecodable file deleted
//! under its key's lock, after a second look (it may have been replaced
//! since). Temporary files older than [`TEMP_MAX_AGE`] are what a writer
//! that died left behind.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::dir::{
    fingerprint_of_name, is_shard_name, open_regular, remove_special, Opened, TEMP_PREFIX,
};
use super::format::{decode_header, HEADER_LEN};
use super::inner::{io_error, Change, Current, Inner};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::key::Fingerprint;

/// How old a temporary file is before a sweep takes its writer for dead
/// (writing even the largest value takes far less).
pub(crate) const TEMP_MAX_AGE: Duration = Duration::from_secs(600);

impl Inner {
    pub(super) fn sweep(&self, now: Timestamp) -> Result<usize, StoreError> {
        let shards = fs::read_dir(self.dir.root()).map_err(|error| io_error("sweep", error))?;
        let (mut files, mut removed) = (0, 0);
        for shard in shards.flatten() {
            let is_shard = shard.file_name().to_str().is_some_and(is_shard_name)
                && shard.file_type().is_ok_and(|kind| kind.is_dir());
            if !is_shard {
                continue;
            }
            // A shard that cannot be listed now is left for the next sweep.
            let Ok(entries) = fs::read_dir(shard.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                if let Some(fingerprint) = fingerprint_of_name(name) {
                    files += 1;
                    removed += usize::from(self.sweep_file(fingerprint, &entry.path(), now));
                } else if name.starts_with(TEMP_PREFIX) && is_abandoned(&entry.path()) {
                    removed += usize::from(fs::remove_file(entry.path()).is_ok());
                }
            }
        }
        self.files_at_last_sweep.store(files, Ordering::Relaxed);
        Ok(removed)
    }

    /// Deletes the file of `fingerprint` at `path` if it expired at `now`
    /// or is not a file of ours. Whether it did.
    fn sweep_file(&self, fingerprint: Fingerprint, path: &Path, now: Timestamp) -> bool {
        let live = match read_header(path) {
            Ok(Some(header)) => decode_header(&header).is_some_and(|header| header.deadline > now),
            // A FIFO, device or symlink under a key's name is garbage.
            Ok(None) => return remove_special(path).is_ok(),
            Err(_) => return false, // gone already, or unreadable: not ours to judge
        };
        if live {
            return false;
        }
        // A second look under the lock: the file may have been replaced.
        self.update(fingerprint, false, None, |current| {
            let expired = match current {
                Current::Missing => false,
                Current::Unreadable => true,
                Current::File(file) => super::inner::is_gone(&file, now),
            };
            Ok((
                if expired {
                    Change::Remove
                } else {
                    Change::Keep
                },
                expired,
            ))
        })
        .unwrap_or(false)
    }
}

/// Up to the first [`HEADER_LEN`] bytes of the file at `path`; `None` if
/// it is not a regular file (which is not opened in a way that could block).
fn read_header(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match open_regular(OpenOptions::new().read(true), path)? {
        Opened::File(file) => file,
        Opened::Missing => return Err(io::ErrorKind::NotFound.into()),
        Opened::Special => return Ok(None),
    };
    let mut header = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64).read_to_end(&mut header)?;
    Ok(Some(header))
}

/// Whether the temporary file at `path` was last written long ago (by the
/// real clock: it is about writers, not about the cache's deadlines).
fn is_abandoned(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > TEMP_MAX_AGE)
}
