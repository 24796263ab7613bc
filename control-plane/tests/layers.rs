//! The control plane's layers, checked as rust-analyzer checks its repository rules (a "tidy"
//! test): read every source file, resolve each `crate::…`/`super::…` path to the file that
//! defines it, and fail on
//!
//! * an import that points up: nothing outside `http/` uses `crate::http`; `store/` uses
//!   neither `domain` nor `publish`; `publish/` does not use `domain`;
//! * a circle of imports between files, anywhere in the crate.
//!
//! `mod` declarations are not imports (a parent declares its children; children may use it).
//! Unit test modules (`#[cfg(test)]`) are not read.

#![allow(clippy::expect_used, clippy::panic)] // test code fails loudly

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source files by path relative to `src/` (`domain/flags/write.rs`), with their text.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src").to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The module path of a file: `domain/flags/write.rs` → `["domain", "flags", "write"]`;
/// `lib.rs` and `main.rs` are the crate roots (`[]`).
fn module_of(file: &str) -> Vec<String> {
    let trimmed = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts
}

/// The file defining the deepest module of `path` (a module path, possibly ending in items).
fn file_of(files: &BTreeSet<String>, path: &[String], root: &str) -> String {
    let mut best = root.to_owned();
    for n in 1..=path.len() {
        let dir = path[..n].join("/");
        let (plain, nested) = (format!("{dir}.rs"), format!("{dir}/mod.rs"));
        if files.contains(&plain) {
            best = plain;
        } else if files.contains(&nested) {
            best = nested;
        } else {
            break;
        }
    }
    best
}

/// Code without comments (doc comments mention paths that are not imports) and without unit
/// test modules (their `super` is the file itself).
fn code(text: &str) -> String {
    let text: String = text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(open) = rest.find('{') else { break };
        rest = &rest[skip_block(rest, open)..];
    }
    out.push_str(rest);
    out
}

/// Where the block opening at byte `open` of `text` ends (after its `}`), strings skipped.
fn skip_block(text: &str, open: usize) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < open) {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// Every `crate::…` and `super::…` path in `text`, with `use` trees (`a::{b, c::d}`) expanded.
fn paths(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (trees, end) = tree(&chars, i);
            out.extend(trees);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Parses a use tree starting at `i`: the paths it names, and where it ends.
fn tree(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if chars.get(i) == Some(&'{') {
            i += 1;
            let mut all = Vec::new();
            loop {
                while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                match chars.get(i) {
                    None => return (all, i),
                    Some('}') => return (all, i + 1),
                    _ => {}
                }
                let (inner, end) = tree(chars, i);
                i = end.max(i + 1);
                all.extend(inner.into_iter().map(|p| prefix.iter().cloned().chain(p).collect::<Vec<_>>()));
            }
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            i += 1;
        }
        if i == start {
            return (vec![prefix], i);
        }
        prefix.push(chars[start..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// `file → files it imports`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let files: BTreeSet<String> = sources.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (file, text) in &sources {
        // main.rs is a crate of its own (the binary); everything else hangs off lib.rs.
        let root = if file == "main.rs" { "main.rs" } else { "lib.rs" };
        let here = module_of(file);
        let mut targets = BTreeSet::new();
        for path in paths(&code(text)) {
            let absolute: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("super") => {
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    let mut base = here.clone();
                    // A file's own module is `here`; `super` is its parent.
                    for _ in 0..ups {
                        base.pop();
                    }
                    base.into_iter().chain(path[ups..].iter().cloned()).collect()
                }
                _ => continue,
            };
            let target = file_of(&files, &absolute, root);
            if target != *file {
                targets.insert(target);
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

fn layer(file: &str) -> &str {
    file.split('/').next().filter(|_| file.contains('/')).unwrap_or("root")
}

#[test]
fn imports_only_point_down() {
    // What each layer may not import.
    let forbidden: &[(&str, &[&str])] = &[
        ("domain", &["http"]),
        ("publish", &["http", "domain"]),
        ("store", &["http", "domain", "publish"]),
        ("root", &["http", "domain", "publish", "store"]),
    ];
    let mut wrong = Vec::new();
    for (file, targets) in graph() {
        // lib.rs assembles the layers; main.rs is the CLI on top of them.
        if file == "lib.rs" || file == "main.rs" {
            continue;
        }
        let Some((_, banned)) = forbidden.iter().find(|(l, _)| *l == layer(&file)) else { continue };
        for t in targets {
            if banned.contains(&layer(&t)) {
                wrong.push(format!("{file} -> {t}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that point up a layer:\n{}", wrong.join("\n"));
}

#[test]
fn no_file_imports_itself_through_others() {
    let graph = graph();
    // Depth-first search; a back edge closes a circle.
    fn visit(
        file: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        on_path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(file) {
            return;
        }
        if let Some(at) = on_path.iter().position(|f| f == file) {
            let mut circle = on_path[at..].to_vec();
            circle.push(file.to_owned());
            circles.push(circle.join(" -> "));
            return;
        }
        on_path.push(file.to_owned());
        for next in graph.get(file).into_iter().flatten() {
            visit(next, graph, on_path, done, circles);
        }
        on_path.pop();
        done.insert(file.to_owned());
    }
    let (mut done, mut circles) = (BTreeSet::new(), Vec::new());
    for file in graph.keys() {
        visit(file, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "circles of imports:\n{}", circles.join("\n"));
}

#[test]
fn the_checker_sees_imports_and_circles() {
    // The parser itself: use trees, nested groups, `self`, inline paths; comments and test
    // modules ignored, code after a test module read.
    let found = paths(&code(
        "use super::{audit::{self, audited}, authz};\n// crate::http::x\n#[cfg(test)]\nmod tests { use \"}\"; \
         use crate::domain::x; }\nlet x = crate::publish::publish(a);",
    ));
    let as_text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(as_text, ["super::audit::self", "super::audit::audited", "super::authz", "crate::publish::publish"]);
    // And the graph it builds names real files: lib.rs reaches every layer.
    let graph = graph();
    let lib = graph.get("lib.rs").expect("lib.rs is read");
    assert!(lib.iter().any(|f| f.starts_with("http/")), "lib.rs -> http: {lib:?}");
    assert!(graph.get("domain/batch.rs").is_some_and(|t| t.contains("domain/flags/write.rs")));
}
