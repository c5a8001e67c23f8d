use super::*;

/// The promises a history breaks, in the order found.
fn checked(text: &str) -> Vec<Promise> {
    let events = parse(text).expect("a history");
    check(&events).iter().map(|v| v.promise).collect()
}

/// The report of a history.
fn reported(text: &str) -> Report {
    check_report(&parse(text).expect("a history"))
}

/// The one violation of a history, or a panic naming them all.
fn only_violation(text: &str) -> Violation {
    let mut violations = reported(text).violations;
    assert_eq!(violations.len(), 1, "{violations:#?}");
    violations.remove(0)
}

/// The events of a violation, as history lines.
fn lines(violation: &Violation) -> Vec<String> {
    violation.events.iter().map(ToString::to_string).collect()
}

const NONE: [Promise; 0] = [];

// ---- parsing ----

#[test]
fn every_event_kind_parses_prints_back_and_comments_are_skipped() {
    let history = "\
config store=memcached seed=7 soft_ms=300 hard_ms=1200 grace_ms=2000 liveness_ms=1000 hold_bound_ms=7000 clear_delay_ms=1000 skew_ms=50 timeout_ms=200 wait_tolerance_ms=300 early_ms=1000 broken=stale-set
compute w1.1 s1 7 10 20 ok held
call w2.1 s1 15 21 waited 7 - -
call w2.1 b1 30 40 computed 8 8 w2.1-3
set w1.1 c1 9 50 51
invalidate w1.1 s1 60 61
clear w2.1 70 71
fault kill w1.1 80 80
fault delay=50 proxy 90 190
fault skew=-40 w2.1 90 190
fault skew=+40 w1.1 90 190
fault cut-after-act proxy 95 95
fault probe all 200 200
";
    let text = format!("# a history\n\n{history}");
    let events = parse(&text).unwrap();
    assert_eq!(events.len(), 13);
    let printed: Vec<String> = events.iter().map(ToString::to_string).collect();
    assert_eq!(printed, history.lines().collect::<Vec<_>>());
    assert_eq!(
        events[3],
        Event::Call(Call {
            process: "w2.1".into(),
            key: "b1".into(),
            start: 30,
            end: 40,
            served: Served::Computed,
            value: Some(8),
            ran: Some(8),
            batch: Some("w2.1-3".into()),
        })
    );
    assert_eq!(
        events[9],
        Event::Fault(Fault {
            kind: FaultKind::Skew(-40),
            target: "w2.1".into(),
            start: 90,
            end: 190
        })
    );
}

#[test]
fn missing_config_keys_take_the_defaults_and_the_hold_bound_follows_liveness() {
    let Event::Config(config) = &parse("config store=redis liveness_ms=3000").unwrap()[0] else {
        panic!("not a config");
    };
    assert_eq!(config.store, Store::Redis);
    assert_eq!(config.liveness_ms, 3000);
    assert_eq!(config.hold_bound_ms, 4000);
    assert_eq!(config.soft_ms, 300);
    assert_eq!(config.wait_tolerance_ms, 300);
    assert_eq!(config.broken, None);
    // No config at all: the defaults.
    assert_eq!(reported("").config, Config::default());
}

#[test]
fn a_line_that_is_no_event_says_which_and_why() {
    let error = parse("compute p k 1 2 3 ok held\ncall p k 1 2 warm 3 - -\n").unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.reason.contains("\"warm\""), "{error}");
    let error = parse("\n\ninvalidate p k 1\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 3: `invalidate` takes 4 fields, found 3"
    );
    let error = parse("compute p k x 1 2 ok held\n").unwrap_err();
    assert!(
        error.reason.contains("ID must be a whole number"),
        "{error}"
    );
    // The old format (no HOLD) is refused, not misread.
    let error = parse("compute p k 1 1 2 ok\n").unwrap_err();
    assert_eq!(error.reason, "`compute` takes 7 fields, found 6");
    let error = parse("call p k 5 4 fresh 1 - -\n").unwrap_err();
    assert_eq!(error.reason, "END 4 is before START 5");
    let error = parse("config store=memory colour=red\n").unwrap_err();
    assert!(
        error.reason.contains("unknown config key \"colour\""),
        "{error}"
    );
    let error = parse("config store=mongo\n").unwrap_err();
    assert!(error.reason.contains("unknown store \"mongo\""), "{error}");
    let error = parse("config seed=1\n# again\nconfig seed=2\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 3: a second config line (the first is line 1)"
    );
    let error = parse("fault melt proxy 1 2\n").unwrap_err();
    assert!(error.reason.contains("unknown fault"), "{error}");
    let error = parse("fault skew=fast w1.1 1 2\n").unwrap_err();
    assert!(error.reason.contains("skew must be ±MS"), "{error}");
    let error = parse("call p k 1 2 fresh 1 x -\n").unwrap_err();
    assert!(
        error.reason.contains("RAN must be a whole number"),
        "{error}"
    );
}

// ---- a clean history, the report ----

const CLEAN: &str = "\
config store=redis seed=3
compute w1.1 k 1 0 100 ok held
call w1.1 k 0 100 computed 1 1 -
call w2.1 k 50 100 waited 1 - -
call w2.1 k 150 151 fresh 1 - -
invalidate w2.1 k 200 210
compute w1.1 k 2 220 300 ok held
call w1.1 k 220 300 computed 2 2 -
call w2.1 k 310 311 fresh 2 - -
set w2.1 c1 3 320 321
call w1.1 c1 330 331 fresh 3 - -
compute w2.1 k 4 700 710 err held
call w2.1 k 700 711 stale 2 4 -
fault kill w3.1 400 400
";

#[test]
fn a_clean_history_breaks_nothing() {
    assert_eq!(checked(CLEAN), NONE);
}

#[test]
fn the_report_prints_the_figures() {
    let report = reported(CLEAN);
    assert_eq!(report.events, 14);
    assert_eq!(report.processes, 2);
    assert_eq!(report.calls[&Served::Fresh], 3);
    assert_eq!(report.computes[&(Outcome::Ok, Hold::Held)], 2);
    let printed = report.to_string();
    for line in [
        "config store=redis seed=3 soft_ms=300",
        "events: 14 from 2 processes",
        "calls: 7 (fresh 3, stale 1, waited 1, computed 2)",
        "computes: 3 (ok held 2, err held 1)",
        "invalidations: 1, clears: 0, sets: 1",
        "faults: 1 (kill 1)",
        "exempted: none",
        "probe calls: none (no probe in the history)",
        "values with no producer event: 0",
        "violations: 0",
    ] {
        assert!(printed.contains(line), "{line:?} not in:\n{printed}");
    }
}

#[test]
fn a_value_id_produced_twice_makes_the_history_malformed() {
    let history = "compute p1 k 1 0 10 ok held\nset p2 c 1 20 21\n";
    assert_eq!(checked(history), [Promise::History]);
}

// ---- rule 1: stale sets ----

#[test]
fn a_value_computed_before_an_invalidation_served_fresh_after_it_is_a_stale_set() {
    let history = "compute p1 k 1 0 300 ok held\n\
                   invalidate p2 k 100 110\n\
                   call p2 k 400 401 fresh 1 - -\n";
    let violation = only_violation(history);
    assert_eq!(violation.promise, Promise::StaleSet);
    assert_eq!(
        lines(&violation),
        [
            "compute p1 k 1 0 300 ok held",
            "invalidate p2 k 100 110",
            "call p2 k 400 401 fresh 1 - -"
        ]
    );
    // Waited for counts too.
    assert_eq!(
        checked("compute p1 k 1 0 300 ok held\ninvalidate p2 k 100 110\ncall p2 k 400 401 waited 1 - -\n"),
        [Promise::StaleSet]
    );
    // Served stale, a call that started before the invalidation returned,
    // a compute that started after it began, another key's invalidation:
    // no promise broken.
    for near in [
        "compute p1 k 1 0 300 ok held\ninvalidate p2 k 100 110\ncall p2 k 400 401 stale 1 - -\n",
        "compute p1 k 1 0 300 ok held\ninvalidate p2 k 100 110\ncall p2 k 105 401 fresh 1 - -\n",
        "compute p1 k 1 100 300 ok held\ninvalidate p2 k 100 110\ncall p2 k 400 401 fresh 1 - -\n",
        "compute p1 k 1 0 300 ok held\ninvalidate p2 j 100 110\ncall p2 k 400 401 fresh 1 - -\n",
    ] {
        assert_eq!(checked(near), NONE, "{near}");
    }
}

#[test]
fn of_several_invalidations_the_latest_that_returned_before_the_call_is_shown() {
    let history = "invalidate p2 k 10 20\n\
                   compute p1 k 1 50 300 ok held\n\
                   invalidate p2 k 100 110\n\
                   invalidate p2 k 120 900\n\
                   call p2 k 400 401 fresh 1 - -\n";
    let violation = only_violation(history);
    assert_eq!(lines(&violation)[1], "invalidate p2 k 100 110");
    // Only invalidations that began after the compute did matter.
    let older = history.replace("invalidate p2 k 100 110\n", "");
    assert_eq!(checked(&older), NONE);
}

#[test]
fn a_set_is_stale_only_if_it_returned_before_the_invalidation_began() {
    let before = "set p1 c 1 0 90\ninvalidate p2 c 100 110\ncall p2 c 400 401 fresh 1 - -\n";
    assert_eq!(checked(before), [Promise::StaleSet]);
    // A set running during the delete may land after it: documented.
    let during = "set p1 c 1 95 105\ninvalidate p2 c 100 110\ncall p2 c 400 401 fresh 1 - -\n";
    assert_eq!(checked(during), NONE);
}

#[test]
fn on_the_memory_store_an_invalidation_reaches_its_own_process_only() {
    let history = "config store=memory\n\
                   compute p2 k 1 0 300 ok held\n\
                   invalidate p1 k 100 110\n\
                   call p2 k 400 401 fresh 1 - -\n";
    assert_eq!(checked(history), NONE);
    let own = history.replace("invalidate p1", "invalidate p2");
    assert_eq!(checked(&own), [Promise::StaleSet]);
}

// ---- rule 2: clears ----

#[test]
fn a_value_older_than_a_clear_is_served_at_once_in_its_process_and_after_the_delay_elsewhere() {
    let base = "compute p2 k 1 0 100 ok held\nclear p1 500 510\n";
    let own = format!("{base}call p1 k 600 601 fresh 1 - -\n");
    let violation = only_violation(&own);
    assert_eq!(violation.promise, Promise::Clear);
    assert_eq!(
        lines(&violation),
        [
            "compute p2 k 1 0 100 ok held",
            "clear p1 500 510",
            "call p1 k 600 601 fresh 1 - -"
        ]
    );
    // Another process: clear END + clear_delay_ms + wait_tolerance_ms = 1810.
    assert_eq!(
        checked(&format!("{base}call p2 k 1800 1801 fresh 1 - -\n")),
        NONE
    );
    assert_eq!(
        checked(&format!("{base}call p2 k 1820 1821 fresh 1 - -\n")),
        [Promise::Clear]
    );
    // Its own compute's value is its own.
    assert_eq!(
        checked(&format!("{base}call p1 k 600 601 computed 1 - -\n")),
        NONE
    );
    // A compute that began after the clear did.
    let after = "compute p2 k 1 505 520 ok held\nclear p1 500 510\ncall p1 k 600 601 fresh 1 - -\n";
    assert_eq!(checked(after), NONE);
}

#[test]
fn on_the_memory_store_a_clear_reaches_only_its_process() {
    let history = "config store=memory\n\
                   compute p2 k 1 0 100 ok held\n\
                   clear p1 500 510\n\
                   call p2 k 5000 5001 fresh 1 - -\n";
    assert_eq!(checked(history), NONE);
    let own = history.replace("clear p1", "clear p2");
    assert_eq!(checked(&own), [Promise::Clear]);
}

// ---- rule 3: other keys ----

#[test]
fn a_call_given_another_keys_value_is_caught() {
    let violation = only_violation("compute p1 j 1 0 10 ok held\ncall p2 k 20 21 fresh 1 - -\n");
    assert_eq!(violation.promise, Promise::OtherKey);
    assert_eq!(
        lines(&violation),
        ["compute p1 j 1 0 10 ok held", "call p2 k 20 21 fresh 1 - -"]
    );
    // The compute a call ran must be of its key too.
    assert_eq!(
        checked("compute p1 j 1 0 10 ok held\ncall p1 k 0 11 computed - 1 -\n"),
        [Promise::OtherKey]
    );
    // On the memory store, another process's value is another cache's.
    assert_eq!(
        checked("config store=memory\ncompute p1 k 1 0 10 ok held\ncall p2 k 20 21 fresh 1 - -\n"),
        [Promise::OtherKey]
    );
    assert_eq!(
        checked("compute p1 k 1 0 10 ok held\ncall p2 k 20 21 fresh 1 - -\n"),
        NONE
    );
}

#[test]
fn a_value_whose_producer_is_missing_is_counted_not_reported() {
    let report = reported("call p2 k 20 21 fresh 42 - -\ncall p3 k 20 21 fresh 42 - -\n");
    assert!(report.violations.is_empty());
    assert_eq!(report.values_without_producer, 1);
    assert!(report
        .to_string()
        .contains("values with no producer event: 1"));
}

// ---- rule 4: one compute at a time ----

#[test]
fn two_held_computes_of_one_key_at_once_are_caught_unless_one_failed() {
    let violation = only_violation("compute p1 k 1 0 100 ok held\ncompute p2 k 2 50 150 ok held\n");
    assert_eq!(violation.promise, Promise::OneCompute);
    assert_eq!(
        lines(&violation),
        [
            "compute p1 k 1 0 100 ok held",
            "compute p2 k 2 50 150 ok held"
        ]
    );
    // One inside a long one, the other after the short one: both overlap the long one.
    let nested = "compute p1 k 1 0 100 ok held\ncompute p2 k 2 10 20 ok held\n\
                  compute p3 k 3 30 40 ok held\n";
    assert_eq!(checked(nested).len(), 2);
    for near in [
        // A hung or failed holder may be replaced.
        "compute p1 k 1 0 100 hung held\ncompute p2 k 2 50 150 ok held\n",
        "compute p1 k 1 0 100 err held\ncompute p2 k 2 50 150 ok held\n",
        // Computes without a hold are not counted for overlap.
        "compute p1 k 1 0 100 ok unheld\ncompute p2 k 2 50 150 ok held\n",
        "compute p1 k 1 0 100 ok held\ncompute p2 k 2 50 150 ok uncached\n",
        // Other keys are other keys; one after the other is no overlap.
        "compute p1 k 1 0 100 ok held\ncompute p2 j 2 50 150 ok held\n",
        "compute p1 k 1 0 100 ok held\ncompute p2 k 2 100 150 ok held\n",
        // On the memory store each process has its own holds.
        "config store=memory\ncompute p1 k 1 0 100 ok held\ncompute p2 k 2 50 150 ok held\n",
    ] {
        assert_eq!(checked(near), NONE, "{near}");
    }
}

#[test]
fn an_overlap_near_a_fault_is_exempted_counted_and_printed() {
    let history = "config store=memcached hold_bound_ms=2000\n\
                   fault server-stop memcached 0 500\n\
                   compute p1 k 1 1000 3000 ok held\n\
                   compute p2 k 2 2000 3100 ok held\n";
    let report = reported(history);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(
        report.exemptions[&(Promise::OneCompute, "server-stop")].count,
        1
    );
    assert!(
        report.to_string().contains(
            "exempted: 1 overlaps during server-stop, documented: a stalled store's holds lapse"
        ),
        "{report}"
    );
    // The fault's window ends at END + hold_bound_ms = 2500, before the pair began.
    let later = history
        .replace("1000 3000", "2600 3000")
        .replace("2000 3100", "2700 3100");
    assert_eq!(checked(&later), [Promise::OneCompute]);
    // Skews, restarts and the probe exempt nothing.
    let skew = history.replace("server-stop memcached", "skew=+50 p1");
    assert_eq!(checked(&skew), [Promise::OneCompute]);
}

// ---- rule 5: one compute per expiry ----

/// A held compute at 0..100 with a soft timeout of 2 s: the next may begin
/// at 100 + 2000 - 100 (early) - 300 (tolerance) = 1700.
const FRESH_UNTIL_2100: &str = "config store=redis soft_ms=2000\ncompute p1 k 1 0 100 ok held\n";

#[test]
fn a_recompute_while_the_value_is_fresh_is_caught() {
    let early = format!("{FRESH_UNTIL_2100}compute p2 k 2 500 600 ok held\n");
    let violation = only_violation(&early);
    assert_eq!(violation.promise, Promise::RecomputeWhileFresh);
    assert_eq!(
        lines(&violation),
        [
            "compute p1 k 1 0 100 ok held",
            "compute p2 k 2 500 600 ok held"
        ]
    );
    assert_eq!(
        checked(&format!(
            "{FRESH_UNTIL_2100}compute p2 k 2 1690 1700 ok held\n"
        )),
        [Promise::RecomputeWhileFresh]
    );
    assert_eq!(
        checked(&format!(
            "{FRESH_UNTIL_2100}compute p2 k 2 1700 1710 ok held\n"
        )),
        NONE
    );
    // A batch key counts too.
    let batch = early.replace(" k ", " b1 ");
    assert_eq!(checked(&batch), [Promise::RecomputeWhileFresh]);
    // Skew widens the tolerance by twice itself.
    let skewed = early.replace("soft_ms=2000", "soft_ms=2000 skew_ms=600");
    assert_eq!(checked(&skewed), NONE);
}

#[test]
fn a_recompute_after_the_value_was_invalidated_cleared_or_lost_is_none() {
    let next = "compute p2 k 2 500 600 ok held\n";
    for between in [
        "invalidate p3 k 300 310\n",
        "clear p3 300 310\n",
        // A call between them got another producer's value: A's write was refused.
        "compute p3 k 9 0 50 ok unheld\ncall p3 k 300 301 stale 9 - -\n",
    ] {
        let history = format!("{FRESH_UNTIL_2100}{between}{next}");
        assert_eq!(checked(&history), NONE, "{between}");
    }
    // A call that got A's own value proves nothing.
    let own = format!("{FRESH_UNTIL_2100}call p3 k 300 301 fresh 1 - -\n{next}");
    assert_eq!(checked(&own), [Promise::RecomputeWhileFresh]);
    // Another key's invalidation; on the memory store another process's clear.
    let other = format!("{FRESH_UNTIL_2100}invalidate p3 j 300 310\n{next}");
    assert_eq!(checked(&other), [Promise::RecomputeWhileFresh]);
    let memory = format!(
        "{FRESH_UNTIL_2100}clear p3 300 310\n{}",
        next.replace("p2", "p1")
    )
    .replace("store=redis", "store=memory");
    assert_eq!(checked(&memory), [Promise::RecomputeWhileFresh]);
}

#[test]
fn an_early_recompute_near_a_fault_is_exempted_and_counted() {
    let history =
        format!("{FRESH_UNTIL_2100}fault kill p1 150 150\ncompute p2 k 2 500 600 ok held\n");
    let report = reported(&history);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(
        report.exemptions[&(Promise::RecomputeWhileFresh, "kill")].count,
        1
    );
    assert!(report
        .to_string()
        .contains("exempted: 1 early recomputes during kill, documented:"));
}

// ---- rule 6: waits ----

#[test]
fn a_wait_with_nobody_computing_is_caught() {
    // Covered by the compute and 200 ms after it: 0..500 of 0..1000.
    let history = "compute p2 k 1 0 300 ok held\ncall p1 k 0 1000 waited 1 - -\n";
    let violation = only_violation(history);
    assert_eq!(violation.promise, Promise::WaitedWithNobodyComputing);
    assert!(
        violation.detail.contains("waited 500 ms"),
        "{}",
        violation.detail
    );
    assert_eq!(
        lines(&violation),
        [
            "compute p2 k 1 0 300 ok held",
            "call p1 k 0 1000 waited 1 - -"
        ]
    );
    for near in [
        // 0..900 covered: 100 ms idle, within the tolerance.
        "compute p2 k 1 0 700 ok held\ncall p1 k 0 1000 waited 1 - -\n",
        // Any compute of the key counts, whatever its outcome or hold.
        "compute p3 k 9 250 600 err unheld\ncompute p2 k 1 0 300 ok held\ncall p1 k 0 1000 waited 1 - -\n",
        // A fault's window [START, END + hold_bound_ms] covers the rest.
        "fault cut proxy 400 400\ncompute p2 k 1 0 300 ok held\ncall p1 k 0 1000 waited 1 - -\n",
        // A computed call waits only until its own compute starts.
        "compute p1 k 1 100 1000 ok held\ncall p1 k 0 1000 computed 1 1 -\n",
    ] {
        assert_eq!(checked(near), NONE, "{near}");
    }
    // What only a fault explains is exempted, counted and printed.
    let report = reported(&format!("fault cut proxy 400 400\n{history}"));
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(
        report.exemptions[&(Promise::WaitedWithNobodyComputing, "cut")].count,
        1
    );
    assert!(report.to_string().contains(
        "exempted: 1 waits with nobody computing during cut, documented: a cut connection's"
    ));
    // A skew is no such fault.
    let skew = format!("fault skew=+5 p1 400 400\n{history}");
    assert_eq!(checked(&skew), [Promise::WaitedWithNobodyComputing]);
    // A computed call that waited 800 ms for nothing before its compute.
    assert_eq!(
        checked("compute p1 k 1 800 1000 ok held\ncall p1 k 0 1000 computed 1 1 -\n"),
        [Promise::WaitedWithNobodyComputing]
    );
}

#[test]
fn a_batch_waits_for_the_computes_of_all_its_keys() {
    // b1's own compute ends at 50 (covers to 250); b2's, run by the batch, to 900.
    let history = "compute p2 b1 5 0 50 ok held\n\
                   compute p1 b2 6 0 700 ok held\n\
                   call p1 b1 0 800 waited 5 - w1-1\n\
                   call p1 b2 0 800 computed 6 6 w1-1\n";
    assert_eq!(checked(history), NONE);
    let alone = history.replace("waited 5 - w1-1", "waited 5 - -");
    assert_eq!(checked(&alone), [Promise::WaitedWithNobodyComputing]);
}

#[test]
fn a_wait_past_the_grace_is_caught_unless_the_caller_was_stopped() {
    // grace 2000 + 3 * 200 + 300 = 2900; a hung compute covers the whole wait.
    let history = "compute p2 k 1 0 3000 hung held\ncall p1 k 0 3000 computed 2 2 -\n\
                   compute p1 k 2 2950 3000 ok unheld\n";
    let violation = only_violation(history);
    assert_eq!(violation.promise, Promise::WaitedPastGrace);
    assert!(
        violation.detail.contains("waited 2950 ms"),
        "{}",
        violation.detail
    );
    let within = history.replace("2950 3000 ok", "2900 3000 ok");
    assert_eq!(checked(&within), NONE);
    // Its own process stopped during the call: exempted, counted.
    let stopped = format!("fault stop p1 100 200\n{history}");
    let report = reported(&stopped);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(
        report.exemptions[&(Promise::WaitedPastGrace, "stop")].count,
        1
    );
    assert!(report.to_string().contains(
        "exempted: 1 waits past the grace during stop, documented: the caller itself was stopped"
    ));
    // Another process stopped: no exemption.
    let other = format!("fault stop p3 100 200\n{history}");
    assert_eq!(checked(&other), [Promise::WaitedPastGrace]);
}

// ---- rule 7: stale until the hard timeout ----

#[test]
fn a_stale_value_served_past_the_hard_timeout_is_caught() {
    // hard 1200 + tolerance 300: produced at 100, stale until 1600.
    let history = "compute p1 k 1 0 100 ok held\ncall p2 k 1700 1701 stale 1 - -\n";
    let violation = only_violation(history);
    assert_eq!(violation.promise, Promise::StaleUntilHard);
    assert_eq!(
        lines(&violation),
        [
            "compute p1 k 1 0 100 ok held",
            "call p2 k 1700 1701 stale 1 - -"
        ]
    );
    assert_eq!(
        checked("compute p1 k 1 0 100 ok held\ncall p2 k 1600 1601 stale 1 - -\n"),
        NONE
    );
    // A fresh-served old value is no stale one (nothing invalidated it).
    assert_eq!(
        checked("compute p1 k 1 0 100 ok held\ncall p2 k 1700 1701 fresh 1 - -\n"),
        NONE
    );
}

// ---- rule 8: nothing held after the run ----

#[test]
fn after_the_probe_no_fault_excuses_a_wait() {
    let history = "config store=file hold_bound_ms=100000\n\
                   fault kill w1.1 0 0\n\
                   fault probe all 5000 5000\n\
                   call probe s1 5000 5010 fresh 1 - -\n\
                   compute w1.1 s1 1 4000 4100 ok held\n\
                   call probe s2 5000 6000 computed 2 2 -\n\
                   compute probe s2 2 5900 6000 ok held\n";
    let report = reported(history);
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    assert_eq!(report.violations[0].promise, Promise::HeldAfterRun);
    assert_eq!(report.probe_calls, 2);
    assert_eq!(report.longest_probe_wait_ms, 900);
    assert!(report
        .to_string()
        .contains("probe calls: 2, longest probe wait: 900 ms"));
    // The same wait before the probe: the kill's window excuses it.
    let before = history.replace("fault probe all 5000 5000\n", "");
    assert_eq!(checked(&before), NONE);
}

// ---- printing ----

#[test]
fn a_violation_prints_its_promise_events_and_the_faults_within_two_seconds() {
    let history = "fault kill w9.1 2300 2300\n\
                   fault kill w9.1 6000 6000\n\
                   compute p1 k 1 0 300 ok held\n\
                   invalidate p2 k 100 110\n\
                   call p2 k 400 401 fresh 1 - -\n";
    let violation = only_violation(history);
    assert_eq!(violation.faults.len(), 1);
    assert_eq!(
        violation.to_string(),
        "VIOLATION stale set: fresh served a value produced before an invalidation of k that \
         returned before the call\n  \
         compute p1 k 1 0 300 ok held\n  \
         invalidate p2 k 100 110\n  \
         call p2 k 400 401 fresh 1 - -\n  \
         faults within 2 s:\n    \
         fault kill w9.1 2300 2300\n"
    );
}
