//! The `file://` URL of a [`FileStore`].

use std::path::PathBuf;

use super::FileStore;
use crate::error::Error;
use crate::url_params::{own_params, parse_count, percent_decode, Params, StoreUrl};

/// What a `file://` URL asks for, checked, before anything is created.
pub(crate) struct FileUrl {
    dir: PathBuf,
    max_value: Option<usize>,
    sweep_every: Option<usize>,
}

impl FileStore {
    /// What `file:///absolute/dir?max_value=&sweep_every=` asks for; the
    /// store is made (its directory created) by [`FileUrl::open`], once the
    /// cache's parameters are checked too.
    pub(crate) fn from_url<'u>(
        url: &str,
        location: &str,
        params: Params<'u>,
    ) -> Result<StoreUrl<'u, FileUrl>, Error> {
        let dir = file_path(url, location)?;
        let (mut max_value, mut sweep_every) = (None, None);
        let rest = own_params(params, |name, value| {
            match name {
                "max_value" => max_value = Some(parse_count(url, name, value)?),
                "sweep_every" => sweep_every = Some(parse_count(url, name, value)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let store = FileUrl {
            dir,
            max_value,
            sweep_every,
        };
        Ok(StoreUrl::new(store, url, rest, "max_value, sweep_every, "))
    }
}

impl FileUrl {
    /// The store, its directory created if it does not exist.
    pub(crate) fn open(self, url: &str) -> Result<FileStore, Error> {
        let FileUrl {
            dir,
            max_value,
            sweep_every,
        } = self;
        let mut store = FileStore::new(&dir).map_err(|error| {
            Error::invalid_url(
                url,
                "path",
                format!(
                    "cannot use {} as the cache directory: {error}",
                    dir.display()
                ),
            )
        })?;
        if let Some(max_value) = max_value {
            store = store.with_max_value(max_value);
        }
        if let Some(sweep_every) = sweep_every {
            store = store.with_sweep_every(sweep_every);
        }
        Ok(store)
    }
}

/// The directory of `file:///absolute/path` (percent-escapes decoded):
/// an absolute path, with no host before it.
fn file_path(url: &str, location: &str) -> Result<PathBuf, Error> {
    if location.is_empty() {
        return Err(Error::invalid_url(
            url,
            "path",
            "missing; expected file:///absolute/path/to/dir",
        ));
    }
    if !location.starts_with('/') {
        return Err(Error::invalid_url(
            url,
            "path",
            format!(
                "{location:?} is not an absolute path (file:// takes no host): \
                 expected file:///absolute/path/to/dir, with three slashes"
            ),
        ));
    }
    let bytes = percent_decode(location).ok_or_else(|| {
        Error::invalid_url(
            url,
            "path",
            "a % in the path must be followed by two hex digits",
        )
    })?;
    let path = String::from_utf8(bytes)
        .map_err(|_| Error::invalid_url(url, "path", "the decoded path is not UTF-8"))?;
    if path.contains('\0') {
        return Err(Error::invalid_url(url, "path", "the path has a NUL byte"));
    }
    Ok(path.into())
}
