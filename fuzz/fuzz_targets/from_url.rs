//! Store URLs, as they come from configuration and the environment
//! (`ANTIDOGPILE_URL`): any string gets a cache or an error, never a panic.
//! Building a memcached store opens no connection, so nothing here does I/O.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    match antidogpile::Cache::from_url(url) {
        Ok(cache) => {
            assert!(cache.hard_timeout_factor() >= 1);
            let _ = format!("{cache:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
