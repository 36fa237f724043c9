//! The runtime's layers, as its own imports show them: a module imports only from its layer or
//! the layers below, never through the crate root's re-exports, and no two modules import each
//! other, directly or around a circle.
//!
//! From the bottom: the contract (row functions, row structs, elements and casts, layouts, the
//! policies' types, what one item's failure is; and the partition of a job, which imports
//! nothing), the outputs (one trait, one file or folder per format), the error a user matches
//! on (it wraps the outputs' failures), the engine (the one slot loop, serial and on every
//! core), the pipeline (the only place that puts a source, the engine and an output together),
//! and the crate root, which only re-exports.
//!
//! The check reads `runtime/src` as text: every `crate::…`, `super::…` and `self::…` path outside
//! comments, strings and inline `#[cfg(test)]` modules, resolved to the file module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first, and the top-level modules in each.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "contract",
        &[
            "element",
            "failure",
            "item",
            "layout",
            "partition",
            "policy",
            "row",
            "rows",
        ],
    ),
    ("outputs", &["outputs"]),
    ("error", &["error"]),
    ("engine", &["drivers", "parallel"]),
    ("pipeline", &["pipeline"]),
    ("python", &["python"]),
];

/// A module: its path from the crate root (`[]` for the root, `["outputs", "npy"]`).
type Module = Vec<String>;

/// What the check found wrong, one line each.
fn violations(src: &Path) -> Vec<String> {
    let files = modules(src);
    let known: BTreeSet<Module> = files.keys().cloned().collect();
    let mut found = Vec::new();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &files {
        if is_test_module(module) {
            continue;
        }
        let text = code_only(&fs::read_to_string(file).unwrap());
        for path in paths(&text) {
            let Some(target) = resolve(module, &path, &known) else {
                found.push(format!(
                    "{}: `{}` imports through the crate root's re-exports",
                    name(module),
                    path.join("::")
                ));
                continue;
            };
            if target == *module || is_test_module(&target) {
                continue;
            }
            if let (Some(from), Some(to)) = (level(module), level(&target)) {
                if to > from {
                    found.push(format!(
                        "{}: imports `{}` from {} (layer {}), above its own layer {}",
                        name(module),
                        path.join("::"),
                        name(&target),
                        LAYERS[to].0,
                        LAYERS[from].0
                    ));
                }
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    for cycle in cycles(&edges) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        found.push(format!("modules import each other: {}", names.join(" -> ")));
    }
    found
}

/// Every `.rs` file below `src`, by module.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                module.pop();
            }
            files.insert(module, path);
        }
    }
    files
}

fn is_test_module(module: &Module) -> bool {
    module
        .last()
        .is_some_and(|last| last == "tests" || last.starts_with("tests_"))
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "the crate root".to_owned()
    } else {
        module.join("::")
    }
}

/// The index in [`LAYERS`] of a module's layer; `None` for the root (which may import anything)
/// and for a module in no layer.
fn level(module: &Module) -> Option<usize> {
    let top = module.first()?;
    LAYERS
        .iter()
        .position(|(_, members)| members.contains(&top.as_str()))
}

/// The text with comments, string and character literals blanked, and the inline
/// `#[cfg(test)] mod tests { .. }` at the end of a file cut off.
fn code_only(text: &str) -> String {
    let text = match text.find("\nmod tests {") {
        Some(at) if text[..at].lines().last().is_some_and(is_test_cfg) => {
            &text[..text[..at].rfind('\n').unwrap_or(0)]
        }
        _ => text,
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(text.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(text.len(), |n| i + n + 2);
            i = end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(text.len(), |n| start + n + close.len());
            out.push(' ');
            i = end;
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push(' ');
            i = j + 1;
        } else if let Some(len) = char_literal(rest) {
            out.push(' ');
            i += len;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `#[cfg(test)]`, `#[cfg(all(test, ..))]`.
fn is_test_cfg(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("#[cfg(") && line.contains("test")
}

/// The length of a character literal at the start of `text` (`'a'`, `'\n'`, `'\''`), as opposed
/// to a lifetime (`'a`).
fn char_literal(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, first) = chars.next()?;
    if first == '\\' {
        let close = text[2..].find('\'')?;
        return Some(2 + close + 1);
    }
    let (at, second) = chars.next()?;
    (second == '\'').then_some(at + 1)
}

/// Every path that starts with `crate::`, `super::` or `self::`, use-trees expanded; each starts
/// with that keyword.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for keyword in ["crate", "super", "self"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword) {
            let start = from + at;
            from = start + keyword.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = code[from..].trim_start();
            let Some(rest) = rest.strip_prefix("::") else {
                continue;
            };
            let mut trees = Vec::new();
            tree(rest, &mut vec![keyword.to_owned()], &mut trees);
            found.extend(trees);
        }
    }
    found
}

/// Parses one use-tree at the start of `text` below `prefix`, appending each full path; returns
/// the text after it.
fn tree<'t>(text: &'t str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> &'t str {
    let text = text.trim_start();
    if let Some(mut rest) = text.strip_prefix('{') {
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                return after;
            }
            rest = tree(rest, prefix, out).trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
            if rest.is_empty() {
                return rest;
            }
        }
    }
    let len = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if len == 0 {
        // `*`, or the end of the path.
        out.push(prefix.clone());
        return text.strip_prefix('*').unwrap_or(text);
    }
    let ident = &text[..len];
    let rest = &text[len..];
    let trimmed = rest.trim_start();
    if ident == "self" {
        out.push(prefix.clone());
        return rest;
    }
    prefix.push(ident.to_owned());
    let rest = match trimmed.strip_prefix("::") {
        Some(after) if !after.trim_start().starts_with('<') => tree(after, prefix, out),
        _ => {
            out.push(prefix.clone());
            rest
        }
    };
    prefix.pop();
    rest
}

/// The file module a path from `module` names: the longest prefix of it that is a module.
/// `None` when that is the crate root although the path goes on: an item imported through the
/// root's re-exports (from any module but the root itself).
fn resolve(module: &Module, path: &[String], known: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Module = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        _ => module.clone(),
    };
    let mut segments = &path[1..];
    if path.first().is_some_and(|k| k == "super") {
        base.pop();
        while segments.first().is_some_and(|s| s == "super") {
            base.pop();
            segments = &segments[1..];
        }
    }
    let full: Module = base.iter().chain(segments).cloned().collect();
    let target = (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|prefix| known.contains(prefix))
        .unwrap_or_default();
    if target.is_empty() && !full.is_empty() && !module.is_empty() {
        if path.first().is_some_and(|k| k == "super") && module.len() == 1 {
            // `super::` inside an inline module of a top-level file names that file.
            return Some(module.clone());
        }
        return None;
    }
    Some(target)
}

/// The circles of the import graph (each once, from its smallest module).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for start in edges.keys() {
        // The shortest way back to `start`, by breadth-first search.
        let mut previous: BTreeMap<Module, Module> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        let mut back = None;
        while let Some(at) = queue.pop_front() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    back = Some(at.clone());
                    queue.clear();
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next.clone(), at.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let Some(mut at) = back else { continue };
        let mut cycle = vec![at.clone()];
        while at != *start {
            at = previous[&at].clone();
            cycle.push(at.clone());
        }
        cycle.reverse();
        let key: BTreeSet<Module> = cycle.iter().cloned().collect();
        if seen.insert(key) {
            cycle.push(start.clone());
            found.push(cycle);
        }
    }
    found
}

#[test]
fn the_runtime_keeps_its_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "{} forbidden imports:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The check can fail: a small tree with one of each forbidden import.
#[test]
fn the_check_finds_each_kind_of_forbidden_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod row;\npub use row::Row;\n");
    // A contract module importing the engine, and an item through the root.
    write(
        "row.rs",
        "use crate::drivers::run;\nuse crate::Row; // crate::pipeline in a comment\nconst S: &str = \"crate::pipeline\";\n",
    );
    // The engine and the pipeline importing each other (a use-tree, and a path in code).
    write(
        "drivers.rs",
        "use crate::{element::E, pipeline::{Pipeline, self}};\n",
    );
    write(
        "pipeline/mod.rs",
        "fn f() { crate::drivers::run(); }\nmod scale;\n",
    );
    write(
        "pipeline/scale.rs",
        "use super::Pipeline;\nuse super::super::element::E;\n",
    );
    write(
        "element.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::pipeline::Pipeline;\n}\n",
    );
    let found = violations(src);
    assert_eq!(
        found,
        [
            "drivers: imports `crate::pipeline::Pipeline` from pipeline (layer pipeline), above its own layer engine",
            "drivers: imports `crate::pipeline` from pipeline (layer pipeline), above its own layer engine",
            "row: imports `crate::drivers::run` from drivers (layer engine), above its own layer contract",
            "row: `crate::Row` imports through the crate root's re-exports",
            "modules import each other: drivers -> pipeline -> drivers",
        ],
        "{found:#?}"
    );
}
