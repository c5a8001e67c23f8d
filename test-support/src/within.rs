//! A call that must not hang: run on a thread of its own and waited for up
//! to a limit, so that a test fails (rather than hangs) on a deadlock.

use std::time::Duration;

/// Runs `call` on a thread of its own; its result, or `None` if it did not
/// return within `limit` (or panicked). The thread of a call that hangs is
/// left behind; the test fails on the `None`.
pub fn within<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(call());
    });
    result.recv_timeout(limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_call_returns_its_value_and_a_stuck_one_none() {
        assert_eq!(within(Duration::from_secs(10), || 7), Some(7));
        let (_hold, stuck) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        assert_eq!(
            within(Duration::from_millis(50), move || stuck.recv().is_ok()),
            None
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
