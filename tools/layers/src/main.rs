//! Reads `antidogpile/src` and checks that its top-level modules import
//! one another without a circle: data flows one way, and a module reaches
//! only the modules below it (issue 22, "The runtime as a one-way tree").
//!
//! ```text
//! cargo run -p antidogpile-layers            # prints the circles, exits 1 if any
//! cargo run -p antidogpile-layers -- --all   # also every module's imports
//! ```
//!
//! A module is a file or folder right under `src/` (`io/gather.rs`
//! belongs to `io`). An import is any `crate::NAME` (or `$crate::NAME`
//! in a macro) in production code: test-only code (`#[cfg(test)]` modules,
//! `tests.rs`, `proptests.rs`, `*_tests/` folders) may reach across, and
//! `lib.rs`, the crate's face, re-exports everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where one module names another: `file:line`.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn main() -> ExitCode {
    let all = std::env::args().any(|arg| arg == "--all");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../antidogpile/src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut edges = Edges::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let Some(module) = module_of(relative) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let from = edges.entry(module.clone()).or_default();
        for (line, name) in imports(&production_part(&text)) {
            if name != module {
                from.entry(name)
                    .or_insert_with(|| format!("{}:{line}", relative.display()));
            }
        }
    }
    let modules: BTreeSet<String> = edges.keys().cloned().collect();
    for targets in edges.values_mut() {
        // Names that are no module of the crate (a macro's helper, a type
        // re-exported at the root) are not edges.
        targets.retain(|name, _| modules.contains(name));
    }
    if all {
        for (module, targets) in &edges {
            let names: Vec<&str> = targets.keys().map(String::as_str).collect();
            println!("{module} -> {}", names.join(", "));
        }
    }
    let circles: Vec<Vec<String>> = strongly_connected(&edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect();
    if circles.is_empty() {
        println!(
            "{} modules, no import circle; bottom to top:",
            modules.len()
        );
        for (layer, names) in layers(&edges).iter().enumerate() {
            println!("  {layer}: {}", names.join(", "));
        }
        return ExitCode::SUCCESS;
    }
    for circle in &circles {
        println!(
            "an import circle of {} modules: {}",
            circle.len(),
            circle.join(", ")
        );
        for from in circle {
            for (to, place) in &edges[from] {
                if circle.contains(to) {
                    println!("  {from} -> {to}  ({place})");
                }
            }
        }
    }
    ExitCode::FAILURE
}

/// The modules by layer, given no circle: a module's layer is one more
/// than the highest layer it imports (0: it imports no module of the crate).
fn layers(edges: &Edges) -> Vec<Vec<String>> {
    fn layer_of(module: &str, edges: &Edges, known: &mut BTreeMap<String, usize>) -> usize {
        if let Some(&layer) = known.get(module) {
            return layer;
        }
        let layer = edges[module]
            .keys()
            .map(|to| layer_of(to, edges, known) + 1)
            .max()
            .unwrap_or(0);
        known.insert(module.to_owned(), layer);
        layer
    }
    let mut known = BTreeMap::new();
    let mut layers: Vec<Vec<String>> = Vec::new();
    for module in edges.keys() {
        let layer = layer_of(module, edges, &mut known);
        if layers.len() <= layer {
            layers.resize(layer + 1, Vec::new());
        }
        layers[layer].push(module.clone());
    }
    layers
}

/// Every `.rs` file under `dir`, but test-only ones.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            // Test-only folders (`model_tests/`, `machine_tests/`).
            if !name.ends_with("_tests") {
                collect(&path, files);
            }
        } else if name.ends_with(".rs") && !matches!(name, "tests.rs" | "proptests.rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`None`: `lib.rs`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (module != "lib").then(|| module.to_owned())
}

/// `text` up to its first test-only module (`#[cfg(test)]` before `mod`).
fn production_part(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            pair[0].trim() == "#[cfg(test)]" && pair[1].trim_start().starts_with("mod ")
        })
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// Each module named after `crate::` (1-based line, name), groups
/// (`crate::{a, b::c}`) included; comments are skipped.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                for name in group_heads(group, text, index) {
                    found.push((index + 1, name));
                }
            } else {
                let name = ident(rest);
                if !name.is_empty() {
                    found.push((index + 1, name));
                }
            }
        }
    }
    found
}

/// The first identifier of each item of a `{...}` group that starts on
/// line `index` of `text` (it may span lines).
fn group_heads(start: &str, text: &str, index: usize) -> Vec<String> {
    // Read on until the group's own `}` (a nested group closes earlier).
    let closes = |body: &str| {
        let mut depth = 0usize;
        body.chars().any(|ch| match ch {
            '{' => {
                depth += 1;
                false
            }
            '}' if depth == 0 => true,
            '}' => {
                depth -= 1;
                false
            }
            _ => false,
        })
    };
    let mut body = String::from(start);
    for line in text.lines().skip(index + 1) {
        if closes(&body) {
            break;
        }
        body.push('\n');
        body.push_str(line.split("//").next().unwrap_or(""));
    }
    let mut heads = Vec::new();
    let (mut depth, mut item) = (0usize, String::new());
    for ch in body.chars() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(std::mem::take(&mut item)),
            _ if depth == 0 => item.push(ch),
            _ => {}
        }
    }
    heads.push(item);
    heads
        .iter()
        .map(|item| ident(item.trim_start()))
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The strongly connected components of `edges` (Tarjan's algorithm).
fn strongly_connected(edges: &Edges) -> Vec<Vec<String>> {
    struct Search<'e> {
        edges: &'e Edges,
        index: BTreeMap<&'e str, usize>,
        low: BTreeMap<&'e str, usize>,
        stack: Vec<&'e str>,
        on_stack: BTreeSet<&'e str>,
        components: Vec<Vec<String>>,
    }
    impl<'e> Search<'e> {
        fn visit(&mut self, node: &'e str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flat_map(|t| t.keys()) {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    component.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                component.sort();
                self.components.push(component);
            }
        }
    }
    let mut search = Search {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in edges.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(pairs: &[(&str, &str)]) -> Edges {
        let mut edges = Edges::new();
        for (from, to) in pairs {
            edges
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned(), "x.rs:1".to_owned());
            edges.entry((*to).to_owned()).or_default();
        }
        edges
    }

    #[test]
    fn imports_are_every_crate_path_and_group_head_outside_comments() {
        let text = "use crate::cache::Cache;\n\
                    use crate::{io::Io, memo::{self, Call},\n    store};\n\
                    // crate::commented\n\
                    let x = $crate::warn::x; // crate::after\n";
        let names: Vec<(usize, String)> = imports(text);
        let expected = [
            (1, "cache"),
            (2, "io"),
            (2, "memo"),
            (2, "store"),
            (5, "warn"),
        ];
        let expected: Vec<(usize, String)> = expected
            .iter()
            .map(|(line, name)| (*line, (*name).to_owned()))
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn code_after_a_test_module_is_not_production() {
        let text = "use crate::a::A;\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n";
        assert_eq!(imports(&production_part(text)), vec![(1, "a".to_owned())]);
    }

    #[test]
    fn a_circle_is_one_component_and_a_chain_is_not() {
        let circle = edges(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]);
        let big: Vec<Vec<String>> = strongly_connected(&circle)
            .into_iter()
            .filter(|component| component.len() > 1)
            .collect();
        assert_eq!(big, vec![vec!["a", "b", "c"]]);
        let chain = edges(&[("a", "b"), ("b", "c")]);
        assert!(strongly_connected(&chain).iter().all(|c| c.len() == 1));
    }

    #[test]
    fn a_module_sits_one_layer_above_the_highest_it_imports() {
        let chain = edges(&[
            ("top", "mid"),
            ("top", "low"),
            ("mid", "low"),
            ("side", "low"),
        ]);
        assert_eq!(
            layers(&chain),
            vec![vec!["low"], vec!["mid", "side"], vec!["top"]]
        );
    }
}
