//! The shape of `src/`, checked: the modules import each other without a
//! cycle (a folder counts as one module), only the entry points import the
//! orchestrator (`charm/`) and the top-level error, no part imports another
//! but the few named here, and no function is longer than a screen.
//!
//! The graph is read from the `use crate::…` lines and `crate::…::` paths,
//! which is what `grep -rn 'crate::' src` shows by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files() -> Vec<PathBuf> {
    crate::fixtures::repo_files("src", "rs", true)
}

/// The node a file belongs to: its top-level module (`landscape/amqp.rs`
/// → `landscape`, `charm.rs` → `charm`).
fn node_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every `crate::<module>` a file mentions.
fn imports_of(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .filter_map(|(i, _)| {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// node → the nodes it imports, and node → the files that import each.
fn graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files() {
        let node = node_of(&file);
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let shown = file.strip_prefix(src()).unwrap().display().to_string();
        let entry = graph.entry(node.clone()).or_default();
        for imported in imports_of(&code).into_iter().filter(|i| *i != node) {
            entry.entry(imported).or_default().insert(shown.clone());
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        start: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let last = path.last().cloned().unwrap_or_default();
        for next in graph.get(&last).map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if next == start {
                path.push(next);
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next);
                if walk(graph, path, start, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, &mut path, start, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let graph = graph();
    assert!(graph.len() > 15, "{:?}", graph.keys());
    for node in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, node) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn only_the_entry_points_import_the_orchestrator_and_the_top_level_error() {
    let graph = graph();
    let importers = |target: &str| -> BTreeSet<String> {
        graph.iter().filter(|(_, imports)| imports.contains_key(target)).map(|(node, _)| node.clone()).collect()
    };
    // lib.rs declares the modules and calls `charm::handle_hook` by its own
    // path, so only `actions` shows here.
    assert_eq!(importers("charm"), BTreeSet::from(["actions".to_string()]));
    assert!(importers("error").is_subset(&BTreeSet::from(["actions".into(), "charm".into(), "lib".into()])));
    // The snapshot is read by the orchestrator alone.
    assert_eq!(importers("world"), BTreeSet::from(["charm".to_string()]));
}

/// The parts: each runs `observe → desired → reconcile` for one concern.
/// They import what they share (`peers`, `status`, `host`) and the ground
/// floor, never each other, but for [`PART_IMPORTS_ALLOWED`].
const PARTS: [&str; 9] =
    ["tls", "haproxy", "edge", "monitoring", "landscape", "companions", "drain", "rollout", "steady"];

/// The part-to-part imports there are, and why each is there.
const PART_IMPORTS_ALLOWED: [(&str, &str, &str); 3] = [
    // What an external load balancer is told is where the unit's HAProxy
    // listens and what its port 80 answers for route health checks: the
    // HAProxy model's ports and its `RouteHealth`, read, never changed.
    ("edge", "haproxy", "the HAProxy model's listening ports and route-health shape"),
    // update-status decides whether anything changed since the last full
    // reconcile by what those parts left: the live HAProxy and its reload
    // debt, the certificate's renewal time.
    ("steady", "haproxy", "the live HAProxy and its reload debt"),
    ("steady", "tls", "the certificate's renewal time"),
];

#[test]
fn parts_import_no_other_part_but_the_ones_named() {
    let graph = graph();
    let mut found = vec![];
    for part in PARTS {
        for (imported, files) in graph.get(part).into_iter().flatten() {
            let allowed = PART_IMPORTS_ALLOWED.iter().any(|(from, to, _)| *from == part && to == imported);
            if PARTS.contains(&imported.as_str()) && !allowed {
                found.push(format!(
                    "{part} imports {imported} ({})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(found.is_empty(), "part-to-part imports not in PART_IMPORTS_ALLOWED:\n{}", found.join("\n"));
    // Every allowance is still used: a stale one would allow a new import silently.
    for (from, to, why) in PART_IMPORTS_ALLOWED {
        assert!(graph[from].contains_key(to), "{from} no longer imports {to} ({why}): drop the allowance");
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (a, b) in [("charm", "landscape"), ("landscape", "error"), ("error", "charm")] {
        graph.entry(a.into()).or_default().insert(b.into(), BTreeSet::new());
    }
    assert_eq!(cycle_from(&graph, "charm").unwrap(), ["charm", "landscape", "error", "charm"]);
}

/// The longest function allowed in `src/` (its unit tests included): well
/// under a screen, so that one is split by meaning while it is still
/// small, not cut wherever it happens to reach a screen.
const MAX_FUNCTION_LINES: usize = 45;

/// (file, first line, name, lines) of every function, by brace counting
/// (strings and chars with braces are rare enough in this code to ignore).
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let signature = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "const fn ", "pub const fn "]
            .iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix));
        let Some(rest) = signature else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let (mut depth, mut opened) = (0i32, false);
        for (offset, body) in lines[start..].iter().enumerate() {
            if !opened && body.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            depth += body.matches('{').count() as i32 - body.matches('}').count() as i32;
            opened |= body.contains('{');
            if opened && depth <= 0 {
                found.push((start + 1, name.clone(), offset + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_in_src_is_longer_than_a_screen() {
    let mut long = Vec::new();
    for file in rust_files() {
        for (line, name, length) in functions(&std::fs::read_to_string(&file).unwrap()) {
            if length > MAX_FUNCTION_LINES {
                long.push(format!("{}:{line} {name}: {length} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FUNCTION_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_length_check_measures_a_function() {
    let text = "fn short() {\n    1;\n}\n\nfn long() {\n".to_string() + &"    x();\n".repeat(70) + "}\n";
    let found = functions(&text);
    assert_eq!(found, [(1, "short".to_string(), 3), (5, "long".to_string(), 72)]);
}

/// `cargo build --release` (and charmcraft's `cargo install`) builds the
/// charm alone: the package has one binary, the workspace's default member
/// is the package itself, and the fake Juju is a dev-dependency only.
#[test]
fn a_release_build_compiles_the_charm_and_nothing_of_the_tests() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let charm = metadata["packages"].as_array().unwrap().iter().find(|p| p["name"] == "landscape-server").unwrap();
    let bins: Vec<&str> = charm["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["landscape-server"]);
    let defaults: Vec<&str> =
        metadata["workspace_default_members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(defaults, [charm["id"].as_str().unwrap()], "only the charm is built by default");
    for dep in charm["dependencies"].as_array().unwrap().iter().filter(|d| d["name"] == "fake-juju") {
        assert_eq!(dep["kind"], "dev", "fake-juju must stay a dev-dependency");
    }
}
