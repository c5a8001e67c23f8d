//! Consistent hashing of keys onto memcached servers (ketama-style), with a
//! lock-free "down until" mark per server.
//!
//! Every server gets [`POINTS_PER_SERVER`] points on a `u64` circle, at
//! `xxh3_64("<label>#<n>")` for `n` in `0..POINTS_PER_SERVER`; a key belongs to
//! the owner of the first point at or clockwise of `xxh3_64(key)`, wrapping
//! past `u64::MAX` to the first point. Nothing is seeded or random, so every
//! app server that builds a ring from the same labels sends a key to the same
//! memcached server, run after run. Adding a server takes over only the arcs
//! its own points land in (about `1/(N+1)` of the keys, all of them moving to
//! it); removing one hands only its keys to the points that follow them.
//!
//! Health lives beside the circle, never in it: [`Ring::mark_down`] stores a
//! deadline in an [`AtomicU64`] and [`Ring::server_for_live`] walks on
//! clockwise past points of servers that are down, so a dead server's keys
//! spread over the others (each of its arcs to whichever server owns the next
//! point) while everyone else's keys stay where they are and stay cached. The
//! current time is always passed in, in milliseconds, and never read here,
//! which keeps the tests deterministic and lets the caller use whichever clock
//! it already reads.
//!
//! Labels must be the same text, byte for byte, on every app server (for
//! example `"10.0.0.1:11211"`): the label, not the position in the list,
//! decides where a server's points are, so the order of the list does not
//! change which server a key maps to (only the indices returned change).

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

/// Points ("virtual nodes") each server gets on the circle.
///
/// More points make the shares more even (a server's share strays from
/// `1/N` by roughly `1/sqrt(points)` relative) at the cost of memory
/// (16 bytes a point) and build time. Measured over 300 random sets of 4
/// labels, 100,000 keys each, the worst server's share strayed from 25% by
/// at most 29% relative with ketama's 160 points (one set in ten beyond
/// 15%), 16% with 320, and 12.5% with 500 (median 5%). 500 points cost 8 KB
/// a server and add about two steps to the binary search.
pub const POINTS_PER_SERVER: usize = 500;

/// How long [`Ring::mark_down`] keeps a server out of
/// [`Ring::server_for_live`] unless [`Ring::with_retry_after`] says
/// otherwise: long enough not to hammer a dead server with connection
/// attempts, short enough that a restarted one gets its keys back quickly.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 5_000;

/// `down_until` value of a server that is up: `now_ms < 0` never holds.
const UP: u64 = 0;

/// A consistent-hash ring over a fixed list of servers, with per-server
/// health that any thread can update through `&self`.
///
/// The circle is built once by [`Ring::new`] and never changes; a change in
/// the server list means building a new ring (cheap: a few thousand hashes
/// and a sort). Lookups take no lock: a binary search, plus one relaxed
/// atomic load per point visited by [`Ring::server_for_live`].
///
/// Duplicate labels are allowed, not rejected: duplicates get the very same
/// points, and a tie on a point goes to the lower index, so the later
/// duplicate owns no keys and takes over all of the earlier one's keys in
/// [`Ring::server_for_live`] while that one is down. Nothing panics on any input, so building a ring from whatever list
/// the configuration holds cannot bring the process down.
pub struct Ring {
    /// Hashes of all points, ascending; searched for a key's hash.
    hashes: Box<[u64]>,
    /// `owners[i]` is the index (into the list given to `new`) of the server
    /// that owns the point `hashes[i]`. Kept apart from `hashes` so the
    /// binary search touches only the dense `u64` array.
    owners: Box<[usize]>,
    /// The labels as given, for `Debug` and for the tie-break at build time.
    labels: Box<[Box<str>]>,
    /// Per server, the millisecond timestamp until which it counts as down
    /// (exclusive); [`UP`] when it is up.
    down_until: Box<[AtomicU64]>,
    /// See [`Ring::with_retry_after`].
    retry_after_ms: u64,
}

impl Ring {
    /// Builds the ring for `servers`, identified by their labels (typically
    /// `"host:port"`), with the [`DEFAULT_RETRY_AFTER_MS`] retry delay.
    ///
    /// Indices returned by lookups are positions in `servers`, so the caller
    /// can keep its connections in a parallel `Vec`. Where a key goes depends
    /// only on the labels, never on their order or on anything random. An
    /// empty list gives a ring that maps every key to `None`; duplicate labels
    /// are accepted (see [`Ring`]).
    #[must_use]
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Self {
        let labels: Box<[Box<str>]> = servers.iter().map(|s| Box::from(s.as_ref())).collect();

        let mut points: Vec<(u64, usize)> =
            Vec::with_capacity(labels.len().saturating_mul(POINTS_PER_SERVER));
        let mut buf = Vec::new();
        for (server, label) in labels.iter().enumerate() {
            for n in 0..POINTS_PER_SERVER {
                buf.clear();
                buf.extend_from_slice(label.as_bytes());
                buf.push(b'#');
                buf.extend_from_slice(n.to_string().as_bytes());
                points.push((xxh3_64(&buf), server));
            }
        }
        // Ties (two points with one hash) go to the smaller label, so the
        // outcome does not depend on the order of the list; only duplicates
        // of one label fall back to the index.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| labels[a.1].cmp(&labels[b.1]))
                .then_with(|| a.1.cmp(&b.1))
        });

        let (hashes, owners): (Vec<u64>, Vec<usize>) = points.into_iter().unzip();
        let down_until = labels.iter().map(|_| AtomicU64::new(UP)).collect();
        Ring {
            hashes: hashes.into_boxed_slice(),
            owners: owners.into_boxed_slice(),
            labels,
            down_until,
            retry_after_ms: DEFAULT_RETRY_AFTER_MS,
        }
    }

    /// Sets how long [`Ring::mark_down`] keeps a server out of
    /// [`Ring::server_for_live`], in milliseconds, so that the retry delay
    /// can follow the deployment (a quick retry for a local memcached, a
    /// longer one across a network that fails slowly).
    ///
    /// Zero makes `mark_down` have no effect: the server is retried on the
    /// very next lookup.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after_ms: u64) -> Self {
        self.retry_after_ms = retry_after_ms;
        self
    }

    /// How many servers the ring was built from (duplicates included): what
    /// a health check walks (with [`Ring::label`] and [`Ring::mark_up`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the ring has no servers, in which case every lookup is `None`.
    #[cfg(test)]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label server `server` was given; `None` if out of range.
    #[must_use]
    pub fn label(&self, server: usize) -> Option<&str> {
        self.labels.get(server).map(|l| &**l)
    }

    /// The server that owns `key`, ignoring health: the same answer on every
    /// app server with the same labels, which is what keeps a key's copies
    /// in one place. `None` only for an empty ring.
    ///
    /// Any bytes and any length are accepted; the key is hashed as given, so
    /// every app server must pass the same bytes for the same logical key.
    /// The store asks [`Ring::server_for_live`]; the tests check the circle
    /// with this.
    #[cfg(test)]
    #[must_use]
    pub fn server_for(&self, key: &[u8]) -> Option<usize> {
        self.first_point(key).map(|i| self.owners[i])
    }

    /// The server that owns `key` (the owner of the first point at or
    /// clockwise of its hash), walking on clockwise past points of servers
    /// that are down at `now_ms`, so that a dead server costs its
    /// own keys a miss on another server instead of a timeout per request,
    /// and costs nothing to keys that live elsewhere. `None` only if the ring
    /// is empty or every server is down.
    ///
    /// Takes no lock; a concurrent [`Ring::mark_down`] may or may not be
    /// seen, which is harmless for a health hint.
    #[must_use]
    pub fn server_for_live(&self, key: &[u8], now_ms: u64) -> Option<usize> {
        let start = self.first_point(key)?;
        let primary = self.owners[start];
        if !self.is_down(primary, now_ms) {
            return Some(primary);
        }
        // Rare path. Rule out "all down" with one load per server before
        // walking what may be every point on the circle.
        if self
            .down_until
            .iter()
            .all(|d| now_ms < d.load(Ordering::Relaxed))
        {
            return None;
        }
        let n = self.owners.len();
        (1..n)
            .map(|step| self.owners[(start + step) % n])
            .find(|&server| !self.is_down(server, now_ms))
    }

    /// Takes `server` out of [`Ring::server_for_live`] until
    /// `now_ms + retry_after_ms`, after which it is tried again; call it when
    /// a request to the server fails at the connection level, so that the
    /// next requests do not each wait for the same timeout.
    ///
    /// Marking a server that is already down keeps the later of the two
    /// deadlines, so racing threads cannot shorten each other's mark. An
    /// index out of range is ignored rather than a panic.
    pub fn mark_down(&self, server: usize, now_ms: u64) {
        if let Some(d) = self.down_until.get(server) {
            d.fetch_max(
                now_ms.saturating_add(self.retry_after_ms),
                Ordering::Relaxed,
            );
        }
    }

    /// Puts `server` back into [`Ring::server_for_live`] at once: a health
    /// check that got an answer does; otherwise a server marked down is
    /// retried when its retry delay is over. An index out of range is ignored.
    pub fn mark_up(&self, server: usize) {
        if let Some(d) = self.down_until.get(server) {
            d.store(UP, Ordering::Relaxed);
        }
    }

    /// Whether `server` is marked down at `now_ms`, i.e. whether
    /// [`Ring::server_for_live`] skips it, so that the caller can report
    /// health. An index out of range is not a server and is not down.
    #[must_use]
    pub fn is_down(&self, server: usize, now_ms: u64) -> bool {
        self.down_until
            .get(server)
            .is_some_and(|d| now_ms < d.load(Ordering::Relaxed))
    }

    /// Index of the first point at or clockwise of the key's hash, wrapping
    /// around; `None` if there are no points.
    fn first_point(&self, key: &[u8]) -> Option<usize> {
        if self.hashes.is_empty() {
            return None;
        }
        let h = xxh3_64(key);
        let i = self.hashes.partition_point(|&p| p < h);
        Some(if i == self.hashes.len() { 0 } else { i })
    }
}

impl fmt::Debug for Ring {
    /// The labels with their `down_until` marks (0 when up) and the ring's
    /// settings; not the thousands of points, which would drown the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Servers<'a>(&'a Ring);
        impl fmt::Debug for Servers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .labels
                            .iter()
                            .zip(self.0.down_until.iter())
                            .map(|(l, d)| (l, d.load(Ordering::Relaxed))),
                    )
                    .finish()
            }
        }
        f.debug_struct("Ring")
            .field("down_until_by_server", &Servers(self))
            .field("points", &self.hashes.len())
            .field("retry_after_ms", &self.retry_after_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: usize = 100_000;

    fn labels(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("10.0.0.{i}:11211")).collect()
    }

    fn key(i: usize) -> Vec<u8> {
        format!("user:{i}:profile").into_bytes()
    }

    fn shares(ring: &Ring) -> Vec<f64> {
        let mut counts = vec![0usize; ring.len()];
        for i in 0..KEYS {
            counts[ring.server_for(&key(i)).unwrap()] += 1;
        }
        counts.iter().map(|&c| c as f64 / KEYS as f64).collect()
    }

    #[test]
    fn same_key_same_server_across_independent_rings() {
        let a = Ring::new(&labels(5));
        let b = Ring::new(&labels(5));
        assert_eq!(a.hashes, b.hashes);
        assert_eq!(a.owners, b.owners);
        for i in 0..KEYS {
            assert_eq!(a.server_for(&key(i)), b.server_for(&key(i)));
        }
    }

    #[test]
    fn order_of_the_list_does_not_change_the_server() {
        let forward = labels(5);
        let mut backward = forward.clone();
        backward.reverse();
        let a = Ring::new(&forward);
        let b = Ring::new(&backward);
        for i in 0..10_000 {
            let sa = a.server_for(&key(i)).unwrap();
            let sb = b.server_for(&key(i)).unwrap();
            assert_eq!(a.label(sa), b.label(sb));
        }
    }

    /// Pins the placement scheme itself: if this changes, every key in a
    /// running cluster moves during a rolling deploy (a cold cache for all),
    /// so a change must be deliberate.
    #[test]
    fn placement_is_pinned() {
        let ring = Ring::new(&["a:11211", "b:11211", "c:11211"]);
        let got: Vec<usize> = (0..16)
            .map(|i| ring.server_for(format!("user:{i}").as_bytes()).unwrap())
            .collect();
        assert_eq!(got, PINNED);
        assert_eq!(xxh3_64(b"a:11211#0"), PINNED_POINT);
        // XXH3-64 of the empty input, seed 0, from the xxHash test vectors:
        // the hash itself is the published one, not some variant.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    }
    const PINNED: [usize; 16] = [1, 1, 2, 0, 0, 2, 1, 0, 1, 2, 0, 2, 2, 2, 1, 0];
    const PINNED_POINT: u64 = 0x7648_50d8_5779_e9ff;

    #[test]
    fn evenness_over_four_servers() {
        let schemes: [fn(usize) -> String; 3] = [
            |i| format!("10.0.0.{i}:11211"),
            |i| format!("cache-{i}.prod.example.com:11211"),
            |i| format!("[fd00::{i}]:11211"),
        ];
        for scheme in schemes {
            let labels: Vec<String> = (1..=4).map(scheme).collect();
            let shares = shares(&Ring::new(&labels));
            println!("evenness, {labels:?}: {shares:?}");
            for s in shares {
                assert!((0.25 * 0.85..=0.25 * 1.15).contains(&s), "share {s}");
            }
        }
    }

    #[test]
    fn adding_a_server_moves_about_one_share_all_to_it() {
        for n in [3, 4, 8] {
            let before = Ring::new(&labels(n));
            let after = Ring::new(&labels(n + 1));
            let mut moved = 0;
            for i in 0..KEYS {
                let k = key(i);
                let (b, a) = (
                    before.server_for(&k).unwrap(),
                    after.server_for(&k).unwrap(),
                );
                if a != b {
                    moved += 1;
                    assert_eq!(a, n, "key {i} moved from {b} to {a}, not to the new server");
                }
            }
            let fraction = moved as f64 / KEYS as f64;
            let ideal = 1.0 / (n + 1) as f64;
            println!("add 1 to {n}: moved {fraction:.4} (ideal {ideal:.4})");
            assert!(
                (ideal * 0.7..=ideal * 1.3).contains(&fraction),
                "N={n}: moved {fraction}, ideal {ideal}"
            );
        }
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let all = labels(5);
        let removed = 2;
        let mut rest = all.clone();
        rest.remove(removed);
        let before = Ring::new(&all);
        let after = Ring::new(&rest);
        let mut moved = 0;
        for i in 0..KEYS {
            let k = key(i);
            let b = before.server_for(&k).unwrap();
            let a = after.server_for(&k).unwrap();
            if b == removed {
                moved += 1;
            } else {
                assert_eq!(before.label(b), after.label(a), "key {i} moved");
            }
        }
        assert!(moved > 0);
    }

    #[test]
    fn down_server_is_skipped_then_retried() {
        let ring = Ring::new(&labels(4)).with_retry_after(1_000);
        let down = 1;
        ring.mark_down(down, 10_000);
        assert!(ring.is_down(down, 10_000));
        assert!(ring.is_down(down, 10_999));
        assert!(!ring.is_down(down, 11_000));
        assert!(!ring.is_down(0, 10_000));

        let mut took_over = [0usize; 4];
        for i in 0..KEYS {
            let k = key(i);
            let primary = ring.server_for(&k).unwrap();
            let live = ring.server_for_live(&k, 10_500).unwrap();
            if primary == down {
                assert_ne!(live, down);
                took_over[live] += 1;
            } else {
                assert_eq!(live, primary, "key {i} of a live server moved");
            }
            // After retry_after it is back.
            assert_eq!(ring.server_for_live(&k, 11_000), Some(primary));
        }
        // The dead server's keys spread over all the others.
        for (s, &c) in took_over.iter().enumerate() {
            assert_eq!(c == 0, s == down, "server {s} took {c}");
        }

        ring.mark_down(down, 20_000);
        ring.mark_up(down);
        assert!(!ring.is_down(down, 20_000));
        for i in 0..1_000 {
            let k = key(i);
            assert_eq!(ring.server_for_live(&k, 20_000), ring.server_for(&k));
        }
    }

    #[test]
    fn mark_down_keeps_the_later_deadline() {
        let ring = Ring::new(&labels(2)).with_retry_after(100);
        ring.mark_down(0, 1_000);
        ring.mark_down(0, 500);
        assert!(ring.is_down(0, 1_099));
        assert!(!ring.is_down(0, 1_100));
    }

    #[test]
    fn zero_retry_after_never_takes_a_server_out() {
        let ring = Ring::new(&labels(2)).with_retry_after(0);
        ring.mark_down(0, 1_000);
        assert!(!ring.is_down(0, 1_000));
        ring.mark_down(0, u64::MAX);
        assert!(!ring.is_down(0, u64::MAX));
    }

    #[test]
    fn all_down_gives_none_until_retry() {
        let ring = Ring::new(&labels(3));
        for s in 0..3 {
            ring.mark_down(s, 0);
        }
        for i in 0..1_000 {
            assert_eq!(ring.server_for_live(&key(i), 1), None);
            assert!(ring.server_for(&key(i)).is_some());
        }
        let back = DEFAULT_RETRY_AFTER_MS;
        for i in 0..1_000 {
            assert_eq!(
                ring.server_for_live(&key(i), back),
                ring.server_for(&key(i))
            );
        }
        ring.mark_up(2);
        assert_eq!(ring.server_for_live(b"x", 1), Some(2));
    }

    #[test]
    fn empty_ring_and_odd_inputs() {
        let empty = Ring::new::<&str>(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.server_for(b"k"), None);
        assert_eq!(empty.server_for(b""), None);
        assert_eq!(empty.server_for_live(b"k", 0), None);
        empty.mark_down(0, 0);
        empty.mark_up(0);
        assert!(!empty.is_down(0, 0));
        assert_eq!(empty.label(0), None);

        let ring = Ring::new(&labels(3));
        let long = vec![0xffu8; 10_000];
        for k in [&b""[..], &long[..], &[0u8, b'\r', b'\n', 0x80][..]] {
            let s = ring.server_for(k).unwrap();
            assert!(s < 3);
            assert_eq!(ring.server_for(k), Some(s));
            assert_eq!(ring.server_for_live(k, 0), Some(s));
        }
        ring.mark_down(usize::MAX, u64::MAX);
        ring.mark_up(3);
        assert!(!ring.is_down(3, 0));

        // Empty label and a label of odd bytes are labels like any other.
        let odd = Ring::new(&["", "#", "\u{0}"]);
        assert!(odd.server_for(b"k").is_some());
    }

    #[test]
    fn duplicate_labels_share_points() {
        let ring = Ring::new(&["a:1", "a:1", "b:1"]);
        assert_eq!(ring.hashes.len(), 3 * POINTS_PER_SERVER);
        let mut firsts = Vec::new();
        for i in 0..10_000 {
            let s = ring.server_for(&key(i)).unwrap();
            assert_ne!(s, 1, "the later duplicate never owns a point outright");
            if s == 0 {
                firsts.push(i);
            }
        }
        assert!(!firsts.is_empty());
        ring.mark_down(0, 0);
        for i in firsts {
            assert_eq!(ring.server_for_live(&key(i), 1), Some(1));
        }
    }

    #[test]
    fn debug_names_servers_without_points() {
        let ring = Ring::new(&["a:1", "b:1"]);
        ring.mark_down(1, 7);
        let s = format!("{ring:?}");
        assert!(s.contains("\"a:1\": 0"), "{s}");
        assert!(
            s.contains(&format!("\"b:1\": {}", 7 + DEFAULT_RETRY_AFTER_MS)),
            "{s}"
        );
        assert!(
            s.contains(&format!("points: {}", 2 * POINTS_PER_SERVER)),
            "{s}"
        );
        assert!(s.len() < 200, "{s}");
    }

    #[test]
    fn ring_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Ring>();
    }

    #[test]
    fn a_key_on_a_point_belongs_to_that_point() {
        // The key "<label>#<n>" hashes to exactly that server's n-th point,
        // which is "at or clockwise of" the key: the point's own server.
        let all = labels(4);
        let ring = Ring::new(&all);
        for (server, label) in all.iter().enumerate() {
            for n in [0, 1, POINTS_PER_SERVER - 1] {
                let k = format!("{label}#{n}");
                assert_eq!(ring.server_for(k.as_bytes()), Some(server), "{k}");
            }
        }
    }

    #[test]
    fn keys_past_the_last_point_wrap_to_the_first() {
        let ring = Ring::new(&labels(5));
        let last = *ring.hashes.last().unwrap();
        let first_owner = ring.owners[0];
        // About one key in 2,500 hashes past the last point.
        let past: Vec<Vec<u8>> = (0..1_000_000)
            .map(key)
            .filter(|k| xxh3_64(k) > last)
            .take(20)
            .collect();
        assert_eq!(past.len(), 20);
        assert_ne!(first_owner, ring.owners[ring.owners.len() - 1]);
        for k in &past {
            assert_eq!(ring.server_for(k), Some(first_owner));
        }
        // And when the first point's server is down, on to the next live one.
        ring.mark_down(first_owner, 0);
        let next = ring.owners.iter().copied().find(|&s| s != first_owner);
        for k in &past {
            assert_eq!(ring.server_for_live(k, 0), next);
        }
    }

    #[test]
    fn concurrent_lookups_while_marking() {
        use std::sync::atomic::AtomicBool;
        let servers = 4;
        let ring = Ring::new(&labels(servers)).with_retry_after(50);
        // Shared clock, advanced by the marker, so that its marks are live
        // for the readers and the walk past down servers really runs.
        let clock = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        // The marker runs until the readers have done their lookups: on a
        // loaded machine it could otherwise finish before they start.
        // And until one of them has been diverted (up to 10 s: a walk that
        // never runs still fails the test).
        let looked_up = AtomicU64::new(0);
        let seen_diverted = AtomicU64::new(0);
        let (ring, clock, stop, looked_up, seen_diverted) =
            (&ring, &clock, &stop, &looked_up, &seen_diverted);
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..8)
                .map(|t| {
                    scope.spawn(move || {
                        let (mut lookups, mut diverted, mut nones) = (0u64, 0u64, 0u64);
                        let mut i = t;
                        while !stop.load(Ordering::Relaxed) || lookups < 20_000 {
                            let k = key(i % 50_000);
                            match ring.server_for_live(&k, clock.load(Ordering::Relaxed)) {
                                Some(s) => {
                                    assert!(s < servers, "index {s}");
                                    if Some(s) != ring.server_for(&k) {
                                        diverted += 1;
                                        seen_diverted.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                None => nones += 1,
                            }
                            lookups += 1;
                            looked_up.fetch_add(1, Ordering::Relaxed);
                            i += 8;
                        }
                        (lookups, diverted, nones)
                    })
                })
                .collect();
            scope.spawn(move || {
                let mut random = antidogpile_test_support::rng::XorShift::new(1);
                let mut step = 0u64;
                let begin = std::time::Instant::now();
                while (step < 200_000
                    || looked_up.load(Ordering::Relaxed) < 8 * 20_000
                    || seen_diverted.load(Ordering::Relaxed) == 0)
                    && begin.elapsed() < std::time::Duration::from_secs(10)
                {
                    step += 1;
                    let x = random.next_u64();
                    let now = step / 16;
                    clock.store(now, Ordering::Relaxed);
                    let s = (x % servers as u64) as usize;
                    if x & 0x100 == 0 {
                        ring.mark_down(s, now);
                    } else {
                        ring.mark_up(s);
                    }
                }
                stop.store(true, Ordering::Relaxed);
            });
            let (mut lookups, mut diverted, mut nones) = (0, 0, 0);
            for r in readers {
                let (l, d, n) = r.join().unwrap();
                (lookups, diverted, nones) = (lookups + l, diverted + d, nones + n);
            }
            println!("concurrent: {lookups} lookups, {diverted} diverted, {nones} none");
            assert!(lookups >= 8 * 20_000);
            assert!(diverted > 0, "the walk past down servers never ran");
        });
    }
}
