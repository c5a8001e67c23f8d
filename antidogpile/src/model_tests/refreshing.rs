//! `Refreshing`: one refresh mark per key at a time in this process, and a
//! dropped mark lets the next caller in.

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{at, check, NOW};
use crate::flight::Refreshing;

const FINGERPRINT: u128 = 7;
/// The marks' lapse: after every model, so only a drop ends a mark.
const UNTIL: u64 = 500;

#[test]
fn one_mark_at_a_time_and_a_dropped_mark_lets_the_next_caller_in() {
    check("refresh_marks", None, || {
        let refreshing = Arc::new(Refreshing::default());
        // Marks held right now.
        let inside = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (refreshing, inside) = (Arc::clone(&refreshing), Arc::clone(&inside));
                thread::spawn(move || {
                    // Each caller retries until it gets the mark: it ends only if
                    // the other's mark, once dropped, lets it in.
                    let mark = loop {
                        match Refreshing::enter(&refreshing, FINGERPRINT, at(NOW), at(UNTIL)) {
                            Some(mark) => break mark,
                            None => thread::yield_now(),
                        }
                    };
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two marks at once"
                    );
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(mark);
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert!(
            Refreshing::enter(&refreshing, FINGERPRINT, at(NOW), at(UNTIL)).is_some(),
            "a dropped mark was left behind"
        );
    });
}
