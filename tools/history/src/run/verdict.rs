//! After the run: the histories of its directory merged and checked, and
//! the report printed with the commands that recheck and rerun it.

use std::path::{Path, PathBuf};

use antidogpile_history::{check, parse, Event};

/// The merged histories of a run.
#[derive(Debug)]
pub struct Histories {
    /// Every event of every file.
    pub events: Vec<Event>,
    /// The files read, in name order.
    pub files: Vec<PathBuf>,
    /// How many `call` lines they hold.
    pub calls: usize,
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
        calls: 0,
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
        histories.calls += count_calls(text);
        histories.events.append(&mut events);
        histories.files.push(file);
    }
    Ok(histories)
}

/// How many `call` lines `text` holds.
fn count_calls(text: &str) -> usize {
    text.lines()
        .filter(|line| line.trim_start().starts_with("call "))
        .count()
}

/// `text` up to its last line end.
fn whole_lines(text: &str) -> &str {
    text.rfind('\n').map_or("", |end| &text[..=end])
}

/// Checks `histories`, printing each violation with the seed and the
/// commands that recheck the history and rerun the seed; returns how many.
pub fn check_and_report(histories: &Histories, dir: &Path, seed: u64, rerun: &str) -> usize {
    let violations = check(&histories.events);
    for violation in &violations {
        print!("{violation}");
        println!("  seed {seed}");
        println!("  recheck: {}", recheck_command(dir));
        println!("  rerun:   {rerun}");
    }
    violations.len()
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
    fn calls_are_counted_by_their_lines() {
        let text = "# call x\ncall w1.1 s1 1 2\n  call w2.1 a1 1 2\ncompute w1.1 s1\n";
        assert_eq!(count_calls(text), 2);
    }

    #[test]
    fn whole_lines_stop_at_the_last_line_end() {
        assert_eq!(whole_lines("a\nb"), "a\n");
        assert_eq!(whole_lines("a\nb\n"), "a\nb\n");
        assert_eq!(whole_lines("a"), "");
    }
}
