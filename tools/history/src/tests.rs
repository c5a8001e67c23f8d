use super::*;

fn checked(text: &str) -> Vec<&'static str> {
    let events = parse(text).expect("a history");
    check(&events).iter().map(|v| v.promise).collect()
}

#[test]
fn every_event_kind_parses_and_comments_are_skipped() {
    let events = parse(
        "# a history\n\ncompute p1 k 7 10 20 ok\ncall p2 k 15 21 computed 7\n\
         invalidate p1 k 30 31\ncall p2 k 40 41 uncached -\n",
    )
    .unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[1],
        Event::Call {
            process: "p2".into(),
            key: "k".into(),
            start: 15,
            end: 21,
            served: Served::Computed,
            value: Some(7),
        }
    );
}

#[test]
fn a_line_that_is_no_event_says_which_and_why() {
    let error = parse("compute p k 1 2 3 ok\ncall p k 1 2 warm 3\n").unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.reason.contains("\"warm\""), "{error}");
    let error = parse("invalidate p k 1\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1: `invalidate` takes 4 fields, found 3"
    );
    let error = parse("compute p k x 1 2 ok\n").unwrap_err();
    assert!(
        error.reason.contains("ID must be a whole number"),
        "{error}"
    );
}

#[test]
fn a_clean_history_breaks_nothing() {
    let history = "compute p1 k 1 0 100 ok\n\
                   call p1 k 0 100 computed 1\n\
                   call p2 k 50 100 computed 1\n\
                   call p2 k 150 151 fresh 1\n\
                   invalidate p2 k 200 210\n\
                   compute p1 k 2 220 300 ok\n\
                   call p1 k 220 300 computed 2\n\
                   call p2 k 310 311 fresh 2\n";
    assert_eq!(checked(history), Vec::<&str>::new());
}

#[test]
fn a_value_computed_before_an_invalidation_served_fresh_after_it_is_a_stale_set() {
    let history = "compute p1 k 1 0 300 ok\n\
                   invalidate p2 k 100 110\n\
                   call p2 k 400 401 fresh 1\n";
    assert_eq!(
        checked(history),
        ["stale set: a value computed before an invalidation served fresh after it returned"]
    );
    // Served stale, or a call that started before the invalidation returned: no promise broken.
    assert!(checked(
        "compute p1 k 1 0 300 ok\ninvalidate p2 k 100 110\ncall p2 k 400 401 stale 1\n"
    )
    .is_empty());
    assert!(checked(
        "compute p1 k 1 0 300 ok\ninvalidate p2 k 100 110\ncall p2 k 105 401 fresh 1\n"
    )
    .is_empty());
    // Another key's invalidation is not this key's.
    assert!(checked(
        "compute p1 k 1 0 300 ok\ninvalidate p2 j 100 110\ncall p2 k 400 401 fresh 1\n"
    )
    .is_empty());
}

#[test]
fn two_computes_of_one_key_at_once_are_caught_unless_one_failed() {
    let history = "compute p1 k 1 0 100 ok\ncompute p2 k 2 50 150 ok\n";
    assert_eq!(
        checked(history),
        ["one compute at a time: two computes of one key overlapped"]
    );
    // One inside a long one, the other after the short one: both overlap the long one.
    let nested = "compute p1 k 1 0 100 ok\ncompute p2 k 2 10 20 ok\ncompute p3 k 3 30 40 ok\n";
    assert_eq!(checked(nested).len(), 2);
    // A hung or failed holder may be replaced; other keys are other keys.
    assert!(checked("compute p1 k 1 0 100 hung\ncompute p2 k 2 50 150 ok\n").is_empty());
    assert!(checked("compute p1 k 1 0 100 ok\ncompute p2 j 2 50 150 ok\n").is_empty());
    assert!(checked("compute p1 k 1 0 100 ok\ncompute p2 k 2 100 150 ok\n").is_empty());
}

#[test]
fn a_call_given_another_keys_value_is_caught() {
    let history = "compute p1 j 1 0 10 ok\ncall p2 k 20 21 fresh 1\n";
    assert_eq!(checked(history), ["a value of another key"]);
}
