//! What an operator needs at run time: a health check of the store.

use crate::cache::Cache;
use crate::error::Error;

impl Cache {
    /// Asks the store whether it answers, for a service's startup or
    /// readiness check ([`from_url`](Cache::from_url) connects to
    /// nothing): memcached answers a no-op (`mn`) on every server, a file
    /// store's directory is writable, an in-process store always answers.
    /// The error names every server that failed (and why); a cache whose
    /// store is down still serves calls, computing without the store.
    ///
    /// A server that answers is put back in use at once (not after its
    /// `retry_after`); one that does not is taken out of use for
    /// `retry_after`, as a failed call would.
    ///
    /// ```
    /// let cache = antidogpile::Cache::from_url("memory://")?;
    /// cache.ping()?;
    ///
    /// // Nothing listens on port 1: the error names the server.
    /// let down = antidogpile::Cache::from_url("memcached://127.0.0.1:1?timeout=200ms")?;
    /// let error = down.ping().unwrap_err();
    /// assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn ping(&self) -> Result<(), Error> {
        self.store
            .ping(crate::store::Wait::Blocking)
            .wait()
            .map_err(Error::Store)
    }
}

#[cfg(feature = "tokio")]
impl crate::client::AsyncCache<'_> {
    /// [`Cache::ping`], without blocking the runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), antidogpile::Error> {
    /// let cache = antidogpile::Cache::from_url("memory://")?;
    /// cache.as_async().ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<(), Error> {
        let ping = self.cache.store.ping(crate::store::Wait::Async);
        ping.await.map_err(Error::Store)
    }
}
