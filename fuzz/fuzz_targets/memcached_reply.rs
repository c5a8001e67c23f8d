//! memcached meta-protocol replies, as a server (or anything pretending to
//! be one) sends them: the first byte seeds the chunk sizes the stream
//! arrives in, the second picks the value size limit, the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [chunking, limit, stream @ ..] = data else {
        return;
    };
    // 255: the codec's default limit; otherwise small limits, so that
    // values over the limit are reachable with short inputs.
    let max_value = match limit {
        255 => 1 << 20,
        small => usize::from(*small) * 8,
    };
    antidogpile::__fuzz::memcached_replies(*chunking, stream, max_value);
});
