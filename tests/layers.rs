//! The layer check: no module of `src/` imports from a layer above its own, and no two
//! files import each other, directly or through others (ARCHITECTURE.md, "Layers").
//!
//! It reads every `use` declaration and every inline `crate::`/`super::` path of the
//! crate's sources (comments and string literals left out), resolves each to the file
//! that defines the item, following the `pub use` re-exports of `mod.rs` and `lib.rs`
//! files (a re-export is an alias, not a dependency), and builds the graph of files.
//! The check itself is tested on a small made-up tree with one violation of each kind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The layers, bottom first; a module may import from its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["error", "pool", "shed"],
    &["framer"],
    &["wrap"],
    &["tendril"],
    &["app"],
    &["manager"],
    &["client", "peer"],
];

/// One source file: its module path and its code, comments and literals removed.
struct Source {
    module: Vec<String>,
    /// `mod.rs` or `lib.rs`: its `pub use` lines are re-exports.
    is_dir: bool,
    code: String,
}

struct Tree {
    files: BTreeMap<Vec<String>, Source>,
}

#[derive(Debug, PartialEq, Eq)]
enum Finding {
    Upward {
        from: String,
        to: String,
    },
    /// Files that import each other, as a path `a -> b -> ... -> a`.
    Cycle(Vec<String>),
}

/// Removes comments, string and char literals (keeps line structure irrelevant).
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        // Raw strings: r"..", r#".."#, br#".."#.
        if (c == 'r' || (c == 'b' && next == Some('r')))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                j += 1;
                loop {
                    if j >= chars.len() {
                        break;
                    }
                    if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            // A char literal ('a', '\n', '\u{1F}'), or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Expands a use tree (`a::{b, c::{d as e, *}}`) into its paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn parse(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .split("::")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            let mut base = prefix.to_vec();
            base.extend(head);
            let inner = &s[open + 1..s.rfind('}').unwrap_or(s.len())];
            // Split at top-level commas.
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parse(&inner[start..i], &base, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parse(&inner[start..], &base, out);
            return;
        }
        let s = s.split(" as ").next().unwrap_or(s).trim();
        let mut path = prefix.to_vec();
        path.extend(
            s.split("::")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
        if path.last().is_some_and(|last| last == "self") {
            path.pop();
        }
        out.push(path);
    }
    let mut out = Vec::new();
    parse(tree, &[], &mut out);
    out
}

/// The use declarations of `code`: (is a `pub`/`pub(..)` use, the paths).
fn uses(code: &str) -> Vec<(bool, Vec<Vec<String>>)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(pos) = code[at..].find("use ") {
        let start = at + pos;
        at = start + 4;
        let before = code[..start].trim_end();
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let statement_start = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || public;
        if !statement_start {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        found.push((public, expand(&code[at..at + end])));
        at += end;
    }
    found
}

/// Inline paths (`crate::a::b`, `super::c`) used in code outside use declarations.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for root in ["crate::", "super::"] {
        let mut at = 0;
        while let Some(pos) = code[at..].find(root) {
            let start = at + pos;
            at = start + root.len();
            if start > 0 {
                let prev = code.as_bytes()[start - 1] as char;
                if prev.is_alphanumeric() || prev == '_' || prev == ':' || prev == '$' {
                    continue;
                }
            }
            let rest: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path: Vec<String> = rest
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            found.push(path);
        }
    }
    found
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut files = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    let relative = path.strip_prefix(src).expect("under src");
                    files.insert_source(relative, &text);
                }
            }
        }
        Tree { files }
    }

    fn from_files(files: &[(&str, &str)]) -> Tree {
        let mut map = BTreeMap::new();
        for (path, text) in files {
            map.insert_source(Path::new(path), text);
        }
        Tree { files: map }
    }

    fn name(module: &[String]) -> String {
        if module.is_empty() {
            "lib.rs".to_owned()
        } else {
            module.join("::")
        }
    }

    /// Resolves an absolute path to the module of the file defining its item.
    fn resolve(&self, path: &[String], depth: usize) -> Option<Vec<String>> {
        if depth > 16 {
            return None;
        }
        let mut module: Vec<String> = Vec::new();
        let mut rest = path;
        while let Some(first) = rest.first() {
            let mut child = module.clone();
            child.push(first.clone());
            if self.files.contains_key(&child) {
                module = child;
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let Some(item) = rest.first() else {
            return Some(module);
        };
        let source = self.files.get(&module)?;
        if source.is_dir {
            // A re-export of `mod.rs`/`lib.rs` is followed to its definition.
            for (public, paths) in uses(&source.code) {
                if !public {
                    continue;
                }
                for target in paths {
                    if target.last() == Some(item) || target.last().is_some_and(|l| l == "*") {
                        let absolute = self.absolute(&module, &target)?;
                        if target.last().is_some_and(|l| l == "*") {
                            let mut with_item = absolute.clone();
                            with_item.push(item.clone());
                            if let Some(found) = self.resolve(&with_item, depth + 1) {
                                if found != module {
                                    return Some(found);
                                }
                            }
                            continue;
                        }
                        return self.resolve(&absolute, depth + 1);
                    }
                }
            }
        }
        Some(module)
    }

    /// A path as written in `module` made absolute; `None` for other crates.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        // The module a `super::` in this file means: a `mod.rs` is its directory's module.
        let here: Vec<String> = module.to_vec();
        let parent = |m: &[String]| -> Vec<String> { m[..m.len().saturating_sub(1)].to_vec() };
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => here.clone(),
            "super" => {
                let mut base = parent(&here);
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    base = parent(&base);
                    rest = &rest[1..];
                }
                let mut out = base;
                out.extend(rest.iter().cloned());
                return Some(out);
            }
            name => {
                // A child module of this one (uniform paths), else another crate.
                let mut child = here.clone();
                child.push(name.to_owned());
                if self.files.contains_key(&child) {
                    let mut out = here.clone();
                    out.push(name.to_owned());
                    out.extend(rest.iter().cloned());
                    return Some(out);
                }
                return None;
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The graph: each file's module to the modules of the files it imports.
    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut graph = BTreeMap::new();
        for (module, source) in &self.files {
            let mut targets = BTreeSet::new();
            let mut paths = Vec::new();
            for (public, declared) in uses(&source.code) {
                // The re-exports of a directory module are aliases, not dependencies.
                if public && source.is_dir {
                    continue;
                }
                paths.extend(declared);
            }
            paths.extend(inline_paths(&source.code));
            for path in paths {
                let Some(absolute) = self.absolute(module, &path) else {
                    continue;
                };
                if let Some(target) = self.resolve(&absolute, 0) {
                    if &target != module && !target.is_empty() {
                        targets.insert(target);
                    }
                }
            }
            graph.insert(module.clone(), targets);
        }
        graph
    }

    fn check(&self) -> Vec<Finding> {
        let rank = |module: &[String]| -> Option<usize> {
            let top = module.first()?;
            LAYERS
                .iter()
                .position(|layer| layer.contains(&top.as_str()))
        };
        let graph = self.edges();
        let mut findings = Vec::new();
        for (from, targets) in &graph {
            for to in targets {
                if let (Some(a), Some(b)) = (rank(from), rank(to)) {
                    if b > a {
                        findings.push(Finding::Upward {
                            from: Tree::name(from),
                            to: Tree::name(to),
                        });
                    }
                }
            }
        }
        // Cycles: a depth-first search that reports each back edge's cycle once.
        let mut state: HashMap<&Vec<String>, u8> = HashMap::new();
        let mut reported = BTreeSet::new();
        fn visit<'a>(
            node: &'a Vec<String>,
            graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            state: &mut HashMap<&'a Vec<String>, u8>,
            stack: &mut Vec<&'a Vec<String>>,
            findings: &mut Vec<Finding>,
            reported: &mut BTreeSet<Vec<String>>,
        ) {
            state.insert(node, 1);
            stack.push(node);
            for next in graph.get(node).into_iter().flatten() {
                match state.get(next).copied().unwrap_or(0) {
                    0 => visit(next, graph, state, stack, findings, reported),
                    1 => {
                        let at = stack.iter().position(|n| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[at..].iter().map(|m| Tree::name(m)).collect();
                        let mut key = cycle.clone();
                        key.sort();
                        if reported.insert(key) {
                            cycle.push(Tree::name(next));
                            findings.push(Finding::Cycle(cycle));
                        }
                    }
                    _ => {}
                }
            }
            stack.pop();
            state.insert(node, 2);
        }
        for node in graph.keys() {
            if state.get(node).copied().unwrap_or(0) == 0 {
                visit(
                    node,
                    &graph,
                    &mut state,
                    &mut Vec::new(),
                    &mut findings,
                    &mut reported,
                );
            }
        }
        findings
    }
}

trait InsertSource {
    fn insert_source(&mut self, relative: &Path, text: &str);
}

impl InsertSource for BTreeMap<Vec<String>, Source> {
    fn insert_source(&mut self, relative: &Path, text: &str) {
        let mut module: Vec<String> = relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let is_dir = matches!(module.last().map(String::as_str), Some("mod") | Some("lib"));
        if is_dir {
            module.pop();
        }
        self.insert(
            module.clone(),
            Source {
                module,
                is_dir,
                code: strip(text),
            },
        );
    }
}

#[test]
fn no_module_imports_from_a_layer_above_and_no_files_import_each_other() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::read(&src);
    assert!(tree.files.len() > 20, "the sources were read");
    let findings = tree.check();
    let report: Vec<String> = findings
        .iter()
        .map(|finding| match finding {
            Finding::Upward { from, to } => format!("upward import: {from} -> {to}"),
            Finding::Cycle(cycle) => format!("import cycle: {}", cycle.join(" -> ")),
        })
        .collect();
    assert!(
        report.is_empty(),
        "layers (bottom first: {LAYERS:?}):\n{}",
        report.join("\n")
    );
    // Every file belongs to a layer (or is the crate root).
    for source in tree.files.values() {
        if let Some(top) = source.module.first() {
            assert!(
                LAYERS.iter().any(|layer| layer.contains(&top.as_str())),
                "{} is in no layer",
                Tree::name(&source.module)
            );
        }
    }
}

#[test]
fn the_check_finds_an_upward_import_and_a_cycle_through_a_reexport() {
    let tree = Tree::from_files(&[
        (
            "lib.rs",
            "pub mod framer; pub mod manager; pub mod tendril;",
        ),
        ("framer/mod.rs", "mod a;\npub use a::A;"),
        // An upward import, written inline in code.
        (
            "framer/a.rs",
            "pub struct A; fn f() -> crate::manager::M { todo() } // use crate::tendril::T;",
        ),
        ("manager/mod.rs", "pub struct M;"),
        (
            "tendril/mod.rs",
            "mod x;\nmod y;\npub use x::X;\npub use y::{Y, Z as W};",
        ),
        // x and y import each other, y through the re-export of mod.rs.
        ("tendril/x.rs", "use super::y::Y;\npub struct X;"),
        (
            "tendril/y.rs",
            "use crate::tendril::X; use crate::framer::A;\npub struct Y; pub struct Z;",
        ),
    ]);
    let findings = tree.check();
    assert_eq!(
        findings,
        vec![
            Finding::Upward {
                from: "framer::a".into(),
                to: "manager".into()
            },
            Finding::Cycle(vec![
                "tendril::x".into(),
                "tendril::y".into(),
                "tendril::x".into()
            ]),
        ],
        "the comment's import and the downward import are not findings"
    );
}

#[test]
fn use_trees_expand_into_paths() {
    assert_eq!(
        expand("crate::a::{b, c::{d as e, self}, f}"),
        vec![
            vec!["crate", "a", "b"],
            vec!["crate", "a", "c", "d"],
            vec!["crate", "a", "c"],
            vec!["crate", "a", "f"]
        ]
        .into_iter()
        .map(|p| p.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    assert_eq!(
        strip("a /* b */ \"c // d\" 'e' 'f // g\nh"),
        "a   \"\" ' ' 'f \nh"
    );
}
