//! After the run: the histories of its directory merged and checked, and
//! the report printed with the commands that recheck and rerun it.

use std::path::{Path, PathBuf};

use antidogpile_history::{check_report, parse, Event, Report};

/// The merged histories of a run.
#[derive(Debug)]
pub struct Histories {
    /// Every event of every file.
    pub events: Vec<Event>,
    /// The files read, in name order.
    pub files: Vec<PathBuf>,
}

/// Reads and parses every `*.history` of `dir`. The last line of an
/// incarnation in `killed` is dropped if unterminated (the kill cut it).
pub fn read(dir: &Path, killed: &[String]) -> Result<Histories, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("could not read {}: {error}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "history"))
        .collect();
    files.sort();
    let mut histories = Histories {
        events: Vec::new(),
        files: Vec::new(),
    };
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("could not read {}: {error}", file.display()))?;
        let name = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("");
        let text = if killed.iter().any(|killed| killed == name) {
            whole_lines(&text)
        } else {
            &text
        };
        let mut events = parse(text).map_err(|error| format!("{}: {error}", file.display()))?;
        histories.events.append(&mut events);
        histories.files.push(file);
    }
    Ok(histories)
}

/// `text` up to its last line end.
fn whole_lines(text: &str) -> &str {
    text.rfind('\n').map_or("", |end| &text[..=end])
}

/// Checks `histories` and prints the checker's report, then each
/// violation with the seed and the commands that recheck the history and
/// rerun the seed.
pub fn check_and_report(histories: &Histories, dir: &Path, seed: u64, rerun: &str) -> Report {
    let report = check_report(&histories.events);
    print!("{report}");
    for violation in &report.violations {
        print!("{violation}");
        println!("  seed {seed}");
        println!("  recheck: {}", recheck_command(dir));
        println!("  rerun:   {rerun}");
    }
    report
}

/// The command that checks the saved histories again.
pub fn recheck_command(dir: &Path) -> String {
    format!("antidogpile-history check {}/*.history", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use antidogpile_test_support::temp_dir::TempDir;

    #[test]
    fn a_killed_incarnations_cut_line_is_dropped() {
        let dir = TempDir::new("verdict");
        std::fs::write(
            dir.path().join("w1.1.history"),
            "invalidate w1.1 s1 10 20\ninvalidate w1.1 s1 30",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a history").unwrap();
        let histories = read(dir.path(), &["w1.1".to_owned()]).unwrap();
        assert_eq!(histories.files.len(), 1);
        assert_eq!(histories.events.len(), 1);
        // Not killed: the cut line is an error naming the file.
        let error = read(dir.path(), &[]).unwrap_err();
        assert!(error.contains("w1.1.history"), "{error}");
    }

    #[test]
    fn whole_lines_stop_at_the_last_line_end() {
        assert_eq!(whole_lines("a\nb"), "a\n");
        assert_eq!(whole_lines("a\nb\n"), "a\nb\n");
        assert_eq!(whole_lines("a"), "");
    }
}
