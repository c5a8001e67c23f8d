//! A directory of a test's own under the system's temporary directory:
//! created empty, removed when dropped.

use std::path::{Path, PathBuf};

/// A directory named after the test, the process and the time, so that
/// tests running at once (in one binary or several) never share one.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `antidogpile-NAME-PID-NANOS` under the temporary directory.
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("antidogpile-{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("could not create {}: {error}", path.display()));
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `file://PATH`: a file store in this directory.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::TempDir;

    #[test]
    fn two_at_once_differ_and_each_is_removed_when_dropped() {
        let (a, b) = (TempDir::new("one"), TempDir::new("one"));
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_dir());
        assert_eq!(a.file_url(), format!("file://{}", a.path().display()));
        let path = a.path().to_owned();
        std::fs::write(path.join("f"), b"x").unwrap();
        drop(a);
        assert!(!path.exists());
    }
}
