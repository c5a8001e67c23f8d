//! The runtime's own small random number generator, for the jitter of
//! soft deadlines and for the fuzz targets' chunk sizes. Private: the tests,
//! examples and tools outside this crate share the one in
//! `antidogpile-test-support` (`rng.rs`), which this crate cannot use at
//! run time (it is a dev-dependency only).

use std::cell::Cell;

/// One xorshift64 step: never zero from a non-zero state.
pub(crate) fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A uniform number in `[0, 1)` for jitter (quality is not critical), from
/// a per-thread state seeded by the time and the thread.
pub(crate) fn unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let here = &STATE as *const _ as u64;
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            (here ^ time) | 1
        });
    }
    STATE.with(|state| {
        let x = xorshift(state.get());
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn units_fall_in_zero_to_one_and_vary() {
        let draws: Vec<f64> = (0..1_000).map(|_| super::unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let low = draws.iter().filter(|&&u| u < 0.5).count();
        assert!((350..650).contains(&low), "{low} of 1000 below 0.5");
    }
}
