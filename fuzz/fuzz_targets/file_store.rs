//! The file store's reader: any bytes found in a cache directory (truncated,
//! garbage, another format, another key's file) read as a value or as
//! absent, never a panic or a misread.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    antidogpile::__fuzz::file_contents(kind, rest);
});
