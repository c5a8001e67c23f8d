//! The quick mode runs every workload briefly; only the computes per expiry
//! are asserted (timings never are: machines are noisy).

use std::process::Command;
use std::time::{Duration, Instant};

/// `(workload, cache) -> (computes, expiries)` from the quick mode's
/// `computes ...` lines.
fn computes(stdout: &str) -> Vec<(String, String, u64, u64)> {
    stdout
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["computes", workload, cache, computes, expiries] => Some((
                    workload.to_owned(),
                    cache.to_owned(),
                    computes.parse().ok()?,
                    expiries.parse().ok()?,
                )),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn one_compute_per_expiry_for_antidogpile_and_a_dogpile_for_the_naive_cache() {
    let out = std::env::temp_dir().join(format!("antidogpile-bench-quick-{}", std::process::id()));
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_antidogpile-bench"))
        .args(["--quick", "--out"])
        .arg(&out)
        .output()
        .expect("run antidogpile-bench --quick");
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "the quick mode hung"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "antidogpile-bench --quick failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = computes(&stdout);
    for workload in ["stampede-threads", "stampede-tasks"] {
        let find = |cache: &str| {
            rows.iter()
                .find(|row| row.0 == workload && row.1 == cache)
                .unwrap_or_else(|| panic!("no {workload} {cache} line in:\n{stdout}"))
                .clone()
        };
        let (_, _, computes, expiries) = find("antidogpile");
        assert!(expiries >= 1, "{workload}: the hot key never expired");
        assert_eq!(
            computes, expiries,
            "{workload}: antidogpile computes per expiry"
        );
        let (_, _, computes, expiries) = find("naive");
        assert!(expiries >= 1, "{workload}: the naive cache never expired");
        assert!(
            computes > expiries,
            "{workload}: naive {computes} computes for {expiries} expiries: no dogpile?"
        );
    }
    // Across processes too, when memcached is there (the bench skips it otherwise).
    if let Some((_, _, computes, expiries)) = rows
        .iter()
        .find(|row| row.0 == "memcached-processes" && row.1 == "antidogpile")
    {
        assert!(
            *expiries >= 1,
            "across processes: the hot key never expired"
        );
        assert_eq!(computes, expiries, "across processes: computes per expiry");
    }
    let markdown = std::fs::read_to_string(out.join("benchmarks.md")).expect("benchmarks.md");
    let svg = std::fs::read_to_string(out.join("stampede-latency.svg")).expect("the plot");
    let _ = std::fs::remove_dir_all(&out);
    assert!(markdown.contains("## 2. Stampede"), "{markdown}");
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
}
