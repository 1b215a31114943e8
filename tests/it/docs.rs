//! The manuals (`docs/`, its design notes, README, HACKING, STYLE) say only what is true of this
//! charm: every `juju` command names real actions, options, endpoints and
//! files; every script it runs exists; every status message it lists is one
//! the code sets; and no link leaves the repository.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::spec;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages = crate::fixtures::repo_files("docs", "md", true);
    for page in ["README.md", "HACKING.md", "STYLE.md", "CHANGELOG.md"] {
        pages.push(root().join(page));
    }
    pages
}

/// The lines of the ```sh blocks of `text`.
fn shell_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed == "```sh";
            continue;
        }
        if inside {
            let command = trimmed.split(" #").next().unwrap_or_default().trim();
            if !command.is_empty() {
                lines.push(command.to_string());
            }
        }
    }
    lines
}

/// What is wrong with one documented command.
fn command_problems(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut found = Vec::new();
    let ours = |app_endpoint: &str| app_endpoint.strip_prefix("landscape-server:").map(str::to_string);
    match words.as_slice() {
        ["juju", "run", unit, action, ..]
            if unit.starts_with("landscape-server/") && !spec().actions.iter().any(|a| a == action) =>
        {
            found.push(format!("`{command}`: no action {action:?} in actions.yaml"));
        }
        ["juju", "config", "landscape-server", settings @ ..] => {
            for setting in settings {
                let option = setting.split('=').next().unwrap_or_default();
                if !spec().options.contains_key(option) {
                    found.push(format!("`{command}`: no option {option:?} in config.yaml"));
                }
            }
        }
        ["juju", verb @ ("integrate" | "remove-relation"), a, b] => {
            for end in [a, b] {
                if let Some(endpoint) = ours(end) {
                    // A migration may remove the relation of an endpoint
                    // this charm does not declare.
                    let legacy = *verb == "remove-relation"
                        && crate::metadata::UNDECLARED_ENDPOINTS.contains(&endpoint.as_str());
                    if !legacy && !spec().endpoints.contains_key(&endpoint) {
                        found.push(format!("`{command}`: no endpoint {endpoint:?} in metadata.yaml"));
                    }
                }
            }
        }
        ["juju", "deploy", path, ..] if path.starts_with("./") && !root().join(path).is_file() => {
            found.push(format!("`{command}`: {path} does not exist"));
        }
        ["juju", "refresh", "landscape-server", "--path", path] => {
            let packed = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let dir = Path::new(path).parent().unwrap_or(Path::new("."));
            if !(packed.starts_with("landscape-server_ubuntu@") && packed.ends_with(".charm")) {
                found.push(format!("`{command}`: not a file scripts/pack-charm writes"));
            }
            if !root().join(dir).is_dir() {
                found.push(format!("`{command}`: {} is not a directory here", dir.display()));
            }
        }
        [script, ..] if script.starts_with("scripts/") => {
            let path = root().join(script);
            let executable = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !executable {
                found.push(format!("`{command}`: {script} is not an executable script"));
            }
        }
        _ => {}
    }
    found
}

/// Relative link targets of `text`: `](target)` with no scheme.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or_default().to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_documented_command_names_real_actions_options_endpoints_and_files() {
    let mut found = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for command in shell_lines(&std::fs::read_to_string(&page).unwrap()) {
            checked += 1;
            found.extend(command_problems(&command).into_iter().map(|p| format!("{}: {p}", page.display())));
        }
    }
    assert!(checked >= 15, "only {checked} commands found");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_command_check_fails_on_each_kind_of_mistake() {
    assert!(!command_problems("juju run landscape-server/0 get-haproxy-cfg").is_empty());
    assert!(!command_problems("juju config landscape-server ssl_certificate=x").is_empty());
    assert!(!command_problems("juju integrate landscape-server:certificates haproxy:reverseproxy").is_empty());
    assert!(!command_problems("juju deploy ./bundles/landscape-huge.yaml").is_empty());
    assert!(!command_problems("scripts/make-charm").is_empty());
    assert!(command_problems("juju run landscape-server/0 get-certificates").is_empty());
}

#[test]
fn no_link_leaves_the_repository_and_every_link_resolves() {
    let mut found = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in relative_links(&text) {
            let resolved = dir.join(&target);
            let inside = resolved.canonicalize().map(|p| p.starts_with(root())).unwrap_or(false);
            if !inside {
                found.push(format!("{}: link {target:?} does not resolve inside the repository", page.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The constant part of each message in reference.md's status table (up to
/// the first placeholder) is in the source that sets it.
#[test]
fn every_listed_status_message_is_one_the_code_sets() {
    let reference = std::fs::read_to_string(root().join("docs/reference.md")).unwrap();
    let table = reference.split("## Status messages").nth(1).expect("a status table");
    let source: String = crate::fixtures::repo_files("src", "rs", true)
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    let mut checked = 0;
    for row in table.lines().filter(|l| l.starts_with("| blocked") || l.starts_with("| waiting")) {
        let Some(message) = row.split('`').nth(1) else { continue };
        let constant = message.split(['<', '…', '(']).next().unwrap_or_default().trim_end();
        if constant.is_empty() {
            continue; // all placeholder, e.g. `<endpoint>: <problem>`
        }
        checked += 1;
        assert!(source.contains(constant), "reference.md lists {message:?}; no source sets {constant:?}");
    }
    assert!(checked >= 12, "only {checked} messages checked");
}

/// docs/reference.md's keyword table names every keyword the rendered
/// configs use (all snapshot cases), so a new directive comes with the
/// version that first accepts it.
#[test]
fn the_keyword_table_names_every_keyword_the_rendered_configs_use() {
    let reference = std::fs::read_to_string(root().join("docs/reference.md")).unwrap();
    let table = &reference[reference.find("## HAProxy keywords and versions").expect("the keyword table")..];
    let mut keywords = std::collections::BTreeSet::new();
    for snapshot in crate::fixtures::repo_files("tests/it/snapshots", "snap", false) {
        let text = std::fs::read_to_string(&snapshot).unwrap();
        for line in text.lines().filter_map(|l| l.strip_prefix("    ")).filter(|l| !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let keyword = match words.as_slice() {
                [first @ ("option" | "timeout" | "http-request"), second, ..] => {
                    format!("{first} {}", second.split('(').next().unwrap_or(second))
                }
                [first, ..] => first.to_string(),
                [] => continue,
            };
            keywords.insert(keyword);
        }
    }
    assert!(keywords.len() > 30, "{keywords:?}");
    let missing: Vec<&String> = keywords.iter().filter(|k| !table.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "keywords not in docs/reference.md's table: {missing:?}");
}
