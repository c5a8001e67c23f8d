//! The results as markdown: the targets first, then one table per workload.

use std::fmt::Write;

use crate::hit_path::{ANTIDOGPILE, ANTIDOGPILE_ASYNC};
use crate::machine::Machine;
use crate::measure::{ratio, show_ns, show_of};
use crate::remote::{HitRow, StampedeRow};
use crate::{hit_path, memcached, remote, stampede, sustained};

/// Everything one run measured.
#[derive(Debug)]
pub struct Results {
    /// Where.
    pub machine: Machine,
    /// `--quick`: figures too short to mean much.
    pub quick: bool,
    /// ns per call, `[contender][thread count]` (see [`hit_path::CACHES`]).
    pub hit: Vec<[f64; 2]>,
    /// The stampede runs and their figures, threads first then tasks.
    pub stampede: Vec<(stampede::Run, stampede::Row)>,
    /// One row per [`sustained::CACHES`].
    pub sustained: Vec<sustained::Row>,
    /// The memcached workload, or why it did not run.
    pub memcached: Result<MemcachedResults, String>,
    /// Calls of each stampede caller count.
    pub callers: usize,
}

/// The memcached workload's results.
#[derive(Debug)]
pub struct MemcachedResults {
    /// A row per [`memcached::CLIENTS`] per [`remote::THREADS`].
    pub hits: Vec<[HitRow; 4]>,
    /// A row per [`memcached::BATCH_CLIENTS`].
    pub get_many: [HitRow; 4],
    /// A row per [`memcached::LARGE_BATCH_CLIENTS`].
    pub large_batch: [HitRow; 2],
    /// Naive and antidogpile across processes.
    pub stampede: Vec<(&'static str, StampedeRow)>,
    /// Processes and callers per process of the stampede.
    pub processes: usize,
    /// Callers per process.
    pub threads: usize,
}

const FLOOR: usize = 0;
const CACHED: usize = 3;

fn yes(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "**no**"
    }
}

fn antidogpile_stampedes(
    results: &Results,
) -> impl Iterator<Item = &(stampede::Run, stampede::Row)> {
    results
        .stampede
        .iter()
        .filter(|(run, _)| run.cache == stampede::CACHES.len() - 1)
}

fn targets(results: &Results, out: &mut String) {
    let hit = &results.hit;
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "| target | measured | met |\n|---|---|---|");
    let one = hit[ANTIDOGPILE][0] / hit[FLOOR][0];
    let _ = writeln!(
        out,
        "| in-process hit ≤ 1.3× the DashMap floor, 1 thread | {} vs {}: {one:.2}× | {} |",
        show_ns(hit[ANTIDOGPILE][0]),
        show_ns(hit[FLOOR][0]),
        yes(one <= 1.3)
    );
    out.push_str(&async_hit_target(hit));
    let _ = writeln!(
        out,
        "| in-process hit faster than `cached`, 2 threads | {} vs {}: {} | {} |",
        show_ns(hit[ANTIDOGPILE][1]),
        show_ns(hit[CACHED][1]),
        ratio(hit[ANTIDOGPILE][1], hit[CACHED][1]),
        yes(hit[ANTIDOGPILE][1] < hit[CACHED][1])
    );
    let naive: Vec<String> = results
        .stampede
        .iter()
        .filter(|(run, _)| run.cache == 0)
        .map(|(_, row)| format!("{:.1}", row.per_expiry()))
        .collect();
    let ours: Vec<(String, bool)> = antidogpile_stampedes(results)
        .map(|(_, row)| {
            (
                format!("{}/{}", row.computes, row.expiries),
                row.expiries > 0 && row.computes == row.expiries,
            )
        })
        .chain(results.memcached.iter().flat_map(|m| {
            m.stampede
                .iter()
                .filter(|(name, _)| *name == "antidogpile")
                .map(|(_, row)| {
                    (
                        format!("{}/{} across processes", row.computes, row.expiries),
                        row.expiries > 0 && row.computes == row.expiries,
                    )
                })
        }))
        .collect();
    let _ = writeln!(
        out,
        "| computes per expiry = 1 in every stampede (naive: {}) | antidogpile computes/expiries: {} | {} |",
        naive.join(", "),
        ours.iter().map(|o| o.0.as_str()).collect::<Vec<_>>().join(", "),
        yes(ours.iter().all(|o| o.1))
    );
    for (run, row) in antidogpile_stampedes(results) {
        let p99 = row.during_refresh.p99 as f64;
        let fresh = row.fresh.p99 as f64;
        let _ = writeln!(
            out,
            "| callers served during a refresh: p99 ≤ 2× a fresh hit's p99 ({}) | {} vs {}: {} | {} |",
            if run.tasks { "tasks" } else { "threads" },
            show_of(&row.during_refresh, row.during_refresh.p99),
            show_of(&row.fresh, row.fresh.p99),
            ratio(p99, fresh),
            yes(row.during_refresh.count > 0 && p99 <= 2.0 * fresh)
        );
    }
    if let Ok(memcached) = &results.memcached {
        for (threads, [_, plain, raw, ours]) in remote::THREADS.iter().zip(&memcached.hits) {
            let _ = writeln!(
                out,
                "| a fresh hit through memcached ≤ 1.15× the raw floor, {threads} thread(s) | {} | {} |",
                versus(ours, (raw, " (raw floor)"), (plain, "`memcache` crate")),
                yes(ours.mean <= 1.15 * raw.mean)
            );
        }
        let [_, raw, ours, meta] = &memcached.get_many;
        let _ = writeln!(
            out,
            "| `get_many` of {} keys ≤ 1.5× a raw multi-key `get` | {} | {} |",
            memcached::BATCH,
            versus(ours, (raw, ""), (meta, "raw pipeline of meta gets")),
            yes(ours.mean <= 1.5 * raw.mean)
        );
        out.push_str(&large_batch_target(&memcached.large_batch));
    }
    out.push('\n');
}

/// What a memcached target measured: `ours`' mean against the floor's
/// (its label after its figure) and against another client's (named).
fn versus(
    ours: &HitRow,
    (floor, label): (&HitRow, &str),
    (other, name): (&HitRow, &str),
) -> String {
    format!(
        "mean {} vs {}{label}: {}; vs {} ({name}): {}",
        show_ns(ours.mean),
        show_ns(floor.mean),
        ratio(ours.mean, floor.mean),
        show_ns(other.mean),
        ratio(ours.mean, other.mean),
    )
}

/// The target row of the large batch: `get_or_compute_many` of warm keys
/// ≤ 1.5× `get_many` of the same keys.
pub fn large_batch_target([get_many, many]: &[HitRow; 2]) -> String {
    format!(
        "| warm `get_or_compute_many` of {} keys ≤ 1.5× `get_many` of them | mean {} vs {}: {} | {} |\n",
        memcached::LARGE_BATCH,
        show_ns(many.mean),
        show_ns(get_many.mean),
        ratio(many.mean, get_many.mean),
        yes(many.mean <= 1.5 * get_many.mean)
    )
}

/// The target row of the async hit: an awaited `async fn` hit ≤ 1.2× a
/// sync hit, 1 thread.
pub fn async_hit_target(hit: &[[f64; 2]]) -> String {
    let awaited = hit[ANTIDOGPILE_ASYNC][0] / hit[ANTIDOGPILE][0];
    format!(
        "| an awaited `async fn` hit ≤ 1.2× a sync hit, 1 thread | {} vs {}: {awaited:.2}× | {} |\n",
        show_ns(hit[ANTIDOGPILE_ASYNC][0]),
        show_ns(hit[ANTIDOGPILE][0]),
        yes(awaited <= 1.2)
    )
}

fn hits(results: &Results, out: &mut String) {
    hit_table(&results.hit, out);
}

/// The hit-path section: every contender at one and two threads.
pub fn hit_table(hit: &[[f64; 2]], out: &mut String) {
    let _ = writeln!(
        out,
        "## 1. Hit path (in process)\n\n\
         A memoized function, `u64` key, 100-byte `String` value, {} keys, every call a fresh hit \
         (best of the interleaved rounds). `× floor`: ns per call over the DashMap floor's; \
         `antidogpile ÷`: antidogpile's ns per call over this one's.\n",
        hit_path::KEYS
    );
    let _ = writeln!(
        out,
        "| cache | 1 thread | × floor | antidogpile ÷ | 2 threads | × floor | antidogpile ÷ |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, row) in hit_path::CACHES.iter().zip(hit) {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            show_ns(row[0]),
            ratio(row[0], hit[FLOOR][0]),
            ratio(hit[ANTIDOGPILE][0], row[0]),
            show_ns(row[1]),
            ratio(row[1], hit[FLOOR][1]),
            ratio(hit[ANTIDOGPILE][1], row[1]),
        );
    }
    out.push('\n');
}

fn stampedes(results: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "## 2. Stampede (in process)\n\n\
         {} callers (threads, then tokio tasks) call one hot key with a 1 ms pause between calls; \
         the value is fresh for {} ms and takes {} ms to compute. An expiry is a group of computes \
         starting within one compute time of each other. Latencies are split into the calls that \
         ran the compute, the other calls that started while a compute ran, and the calls that \
         started while none ran (fresh hits).\n",
        results.callers,
        stampede::FRESH.as_millis(),
        stampede::COMPUTE.as_millis()
    );
    let _ = writeln!(
        out,
        "| callers | cache | calls | computes | expiries | per expiry | all p50 | all p99 | all max | recomputers max | others during refresh p50 | p99 | max | fresh hits p99 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (run, row) in &results.stampede {
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
            results.callers,
            if run.tasks { "tasks" } else { "threads" },
            stampede::CACHES[run.cache].0,
            row.all.count,
            row.computes,
            row.expiries,
            row.per_expiry(),
            show_of(&row.all, row.all.p50),
            show_of(&row.all, row.all.p99),
            show_of(&row.all, row.all.max),
            show_of(&row.recomputers, row.recomputers.max),
            show_of(&row.during_refresh, row.during_refresh.p50),
            show_of(&row.during_refresh, row.during_refresh.p99),
            show_of(&row.during_refresh, row.during_refresh.max),
            show_of(&row.fresh, row.fresh.p99),
        );
    }
    let _ = writeln!(
        out,
        "\n![Caller latency across an expiry](stampede-latency.svg)\n"
    );
}

fn sustained_load(results: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "## 3. Sustained load (in process)\n\n\
         {} threads call without pause; {} keys with Zipf(1.0) popularity; fresh for {} s; a \
         compute sleeps {} µs. Ideal: one compute per key at its first call and one each time it \
         is called {} s or more after its last compute (measured TTLs start at slightly different \
         instants in each cache, and antidogpile reads a coarse clock, so a few hundred computes \
         either way are not a dogpile). The dogpile is the duplicates: computes that started while \
         a compute of the same key was running.\n",
        sustained::THREADS,
        sustained::KEYS,
        sustained::TTL.as_secs(),
        sustained::COMPUTE.as_micros(),
        sustained::TTL.as_secs()
    );
    let _ = writeln!(
        out,
        "| cache | calls | calls/s | computes | ideal | × ideal | duplicates | p50 | p99 | p99.9 | max |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, row) in sustained::CACHES.iter().zip(&results.sustained) {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.calls,
            row.throughput,
            row.computes,
            row.ideal,
            ratio(row.computes as f64, row.ideal as f64),
            row.duplicates,
            show_of(&row.latency, row.latency.p50),
            show_of(&row.latency, row.latency.p99),
            show_of(&row.latency, row.latency.p999),
            show_of(&row.latency, row.latency.max),
        );
    }
    out.push('\n');
}

fn memcached_section(results: &Results, out: &mut String) {
    let _ = writeln!(out, "## 4. Memcached\n");
    let memcached = match &results.memcached {
        Ok(memcached) => memcached,
        Err(why) => {
            let _ = writeln!(out, "Not measured: {why}\n");
            return;
        }
    };
    let _ = writeln!(
        out,
        "Fresh hits of 1,000 keys (100-byte values) on one memcached 1.6 started by the bench on \
         loopback: antidogpile (`Cache::from_url(\"memcached://...\")`, a `#[antidogpiled]` fn; \
         meta protocol, an envelope around the value) against the `memcache` crate's `get` \
         (0.21, text protocol, the bare value) on the same server. Its default r2d2 pool checks each \
         connection with a `version` command at every checkout, a second round trip per `get`; \
         `× plain` is to the same client with that check off. That client still writes each \
         request in several small writes (`write!` on the socket), so a raw `get` written by the \
         bench (one write, a buffered read, the same text protocol) is the floor. Best of the \
         rounds by mean.\n"
    );
    let _ = writeln!(
        out,
        "| threads | client | hits/s | mean | p50 | p99 | × plain (mean) | × raw floor (mean) |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for (threads, pair) in remote::THREADS.iter().zip(&memcached.hits) {
        for (name, row) in memcached::CLIENTS.iter().zip(pair) {
            let _ = writeln!(
                out,
                "| {threads} | {name} | {} |",
                row.cells(0, &[&pair[memcached::PLAIN], &pair[memcached::RAW]])
            );
        }
    }
    let _ = writeln!(
        out,
        "\nA batch: one thread reads the same {} keys at once, in one write. A multi-key `get` is \
         one request, answered in one write; antidogpile speaks the meta protocol, which has no \
         multi-key read: a pipeline of `mg`, which memcached answers in several writes (it yields \
         after 20 requests per event, `-R`), so its raw pipeline is a floor of its own.\n\n\
         | client | batches/s | mean | p50 | p99 | × plain (mean) | × raw floor (mean) |\n\
         |---|---:|---:|---:|---:|---:|---:|",
        memcached::BATCH
    );
    for (name, row) in memcached::BATCH_CLIENTS.iter().zip(&memcached.get_many) {
        let baselines = [&memcached.get_many[0], &memcached.get_many[1]];
        let _ = writeln!(out, "| {name} | {} |", row.cells(0, &baselines));
    }
    out.push_str(&large_batch_table(&memcached.large_batch));
    let _ = writeln!(
        out,
        "\nThe stampede across processes: {} processes (this program started again) of {} threads \
         each call one hot key with a 1 ms pause; a compute takes {} ms. antidogpile: fresh for \
         {} ms. Naive: `get`, and on a miss compute and `set` with a 1 s TTL (memcached counts \
         whole seconds: the item lives up to 1 s).\n",
        memcached.processes,
        memcached.threads,
        stampede::COMPUTE.as_millis(),
        stampede::FRESH.as_millis()
    );
    let _ = writeln!(
        out,
        "| cache | calls | computes | expiries | per expiry |\n|---|---:|---:|---:|---:|"
    );
    for (name, row) in &memcached.stampede {
        let per = if row.expiries == 0 {
            0.0
        } else {
            row.computes as f64 / row.expiries as f64
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {per:.1} |",
            row.calls, row.computes, row.expiries
        );
    }
    out.push('\n');
}

/// The whole report.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "antidogpile side by side with peer libraries, every workload in one run of \
         `cargo run --release -p antidogpile-bench`{}, reported as ratios measured in that run.\n\n\
         Machine: {}.\n",
        if results.quick {
            " --quick (**quick mode: figures too short to compare**)"
        } else {
            ""
        },
        results.machine.describe()
    );
    targets(results, &mut out);
    hits(results, &mut out);
    stampedes(results, &mut out);
    sustained_load(results, &mut out);
    memcached_section(results, &mut out);
    out
}

/// Lines for the quick test: `computes <workload> <cache> <computes> <expiries>`.
pub fn computes_lines(results: &Results) -> String {
    let mut out = String::new();
    for (run, row) in &results.stampede {
        let _ = writeln!(
            out,
            "computes {} {} {} {}",
            if run.tasks {
                "stampede-tasks"
            } else {
                "stampede-threads"
            },
            ["naive", "moka", "cached-by-key", "antidogpile"][run.cache],
            row.computes,
            row.expiries
        );
    }
    if let Ok(memcached) = &results.memcached {
        for (name, row) in &memcached.stampede {
            let _ = writeln!(
                out,
                "computes memcached-processes {name} {} {}",
                row.computes, row.expiries
            );
        }
    }
    out
}

/// The memcached hit rows and the `get_many` row, each with its ratio to
/// the raw floor measured in the same run: the `--only memcached-hits` mode.
pub fn memcached_hits_table(hits: &[[HitRow; 4]], get_many: &[HitRow; 4]) -> String {
    let mut out = String::from(
        "| threads | client | hits/s | mean | p50 | p99 | × raw floor (mean) |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (threads, row) in remote::THREADS.iter().zip(hits) {
        for (name, client) in memcached::CLIENTS.iter().zip(row) {
            let _ = writeln!(
                out,
                "| {threads} | {name} | {} |",
                client.cells(0, &[&row[memcached::RAW]])
            );
        }
    }
    for (name, client) in memcached::BATCH_CLIENTS.iter().zip(get_many) {
        let _ = writeln!(
            out,
            "| 1 | {name}, {} keys | {} |",
            memcached::BATCH,
            client.cells(0, &[&get_many[1]])
        );
    }
    out
}

/// The large-batch rows: `get_or_compute_many` against `get_many` of the
/// same warm keys, measured in one run.
pub fn large_batch_table(rows: &[HitRow; 2]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nA large batch: one thread reads the same {} warm keys at once, with `get_many` and \
         with `get_or_compute_many` (which finds them all: one pipelined read per server).\n\n\
         | client | batches/s | mean | p50 | p99 | × `get_many` (mean) |\n\
         |---|---:|---:|---:|---:|---:|",
        memcached::LARGE_BATCH
    );
    for (name, row) in memcached::LARGE_BATCH_CLIENTS.iter().zip(rows) {
        let _ = writeln!(out, "| {name} | {} |", row.cells(1, &[&rows[0]]));
    }
    out
}
