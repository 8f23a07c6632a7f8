//! Dependencies point inward (CONVENTIONS.md §1): this reads `cargo metadata` and the sources
//! and fails on a forbidden edge, so a stray import is caught by `cargo test`, not in review.
//! Inside `api` it also reads the module import graph and fails on any loop in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Normal (non-dev) dependencies of each workspace crate, by name.
fn dependencies() -> Vec<(String, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let normal = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .filter_map(|dep| dep["name"].as_str().map(str::to_owned))
                .collect();
            (package["name"].as_str().expect("name").to_owned(), normal)
        })
        .collect()
}

fn dependencies_of(name: &str) -> BTreeSet<String> {
    dependencies().into_iter().find(|(package, _)| package == name).map(|(_, deps)| deps).expect("workspace crate")
}

#[test]
fn domain_depends_on_no_web_database_or_runtime_crate() {
    // `url`: WHATWG URL parsing for webhook targets, pure (no I/O), the same parser the HTTP
    // client uses, so the SSRF rules judge the host the sender will connect to.
    let allowed: BTreeSet<String> = ["thiserror", "uuid", "time", "tracing", "url"].map(String::from).into();

    let deps = dependencies_of("domain");

    let forbidden: Vec<_> = deps.difference(&allowed).collect();
    assert!(forbidden.is_empty(), "domain may use only {allowed:?}, found {forbidden:?}");
}

#[test]
fn persistence_knows_nothing_of_graphql_or_http() {
    let deps = dependencies_of("persistence");

    for forbidden in ["api", "async-graphql", "axum", "http", "tower-http"] {
        assert!(!deps.contains(forbidden), "persistence depends on {forbidden}");
    }
    assert!(deps.contains("domain") && deps.contains("migration"));
}

#[test]
fn migration_stands_alone() {
    let deps = dependencies_of("migration");

    for forbidden in ["domain", "persistence", "api"] {
        assert!(!deps.contains(forbidden), "migration depends on {forbidden}");
    }
}

#[test]
fn api_reaches_persistence_only_in_its_wiring_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    let mut offenders = Vec::new();

    visit(&src, &mut |path, text| {
        let wiring = path.starts_with(src.join("app"));
        let mentions = text.contains("persistence::") || text.contains("use persistence") || text.contains("sea_orm");
        if mentions && !wiring {
            offenders.push(path.display().to_string());
        }
    });

    assert!(offenders.is_empty(), "only api/src/app/ may use persistence or sea-orm: {offenders:?}");
    assert!(!dependencies_of("api").contains("sea-orm"), "api must not depend on sea-orm directly");
}

fn visit(dir: &Path, check: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            visit(&path, check);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            check(&path, &std::fs::read_to_string(&path).expect("readable source"));
        }
    }
}

// ---- modules inside `api` ----------------------------------------------------------------
//
// Inside `api`, modules import one way too: `app` wires `http` and `graphql`, `http` serves a
// schema, `graphql` is made of areas that share leaves. The graph below is read from the
// sources (`use` declarations, grouped ones included, and paths written inline), one node per
// file module, so a cycle or a forbidden edge fails here before anyone has to untangle it.

/// Modules that stay leaves, each with the only `api` modules it may import.
const LEAVES: [(&str, &[&str]); 5] = [
    // The wiring's types, which `auth` and `graphql` name: only the crypto it plugs in.
    ("app::ports", &["auth::crypto"]),
    // The global-id codec every area uses: only the error type its decoding answers with.
    ("graphql::global_id", &["error"]),
    // Who acted, as areas show it: only global ids.
    ("graphql::actor", &["graphql::global_id"]),
    // The error type and the command line, which everything may use: nothing of api.
    ("error", &[]),
    ("config", &[]),
];

/// The GraphQL areas: they may import each other one way and the shared leaves, never `node`.
const AREAS: [&str; 4] = ["graphql::catalog", "graphql::identity", "graphql::inventory", "graphql::orders"];

/// Each module of `api/src` (`crate` for `lib.rs`, `graphql::identity` for its `mod.rs`) with
/// the other modules it imports.
type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

fn api_modules() -> ModuleGraph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    let mut files = Vec::new();
    visit(&src, &mut |path, text| {
        let relative = path.strip_prefix(&src).expect("under api/src");
        // The binary is a crate of its own, which reaches the library as `api::`.
        if relative != Path::new("main.rs") {
            files.push((module_of(relative), text.to_owned()));
        }
    });
    module_graph(&files)
}

/// `graphql/identity/mod.rs` is `graphql::identity`, `lib.rs` is `crate`.
fn module_of(relative: &Path) -> String {
    let path = relative.with_extension("");
    let segments: Vec<_> = path.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    match segments.as_slice() {
        [root] if root == "lib" => "crate".into(),
        [parents @ .., last] if last == "mod" => parents.join("::"),
        all => all.join("::"),
    }
}

fn parent_of(module: &str) -> String {
    module.rsplit_once("::").map_or_else(|| "crate".into(), |(parent, _)| parent.to_owned())
}

fn join(module: &str, child: &str) -> String {
    if module == "crate" { child.to_owned() } else { format!("{module}::{child}") }
}

fn module_graph(files: &[(String, String)]) -> ModuleGraph {
    let modules: BTreeSet<&str> = files.iter().map(|(module, _)| module.as_str()).collect();
    let mut graph = ModuleGraph::new();
    for (module, text) in files {
        let code = code_of(text);
        let (uses, rest) = use_declarations(&code);
        let mut paths: Vec<Vec<String>> = uses.iter().flat_map(|tree| expand_use_tree(tree)).collect();
        paths.extend(inline_paths(&rest));
        let imported = graph.entry(module.clone()).or_default();
        for path in paths {
            if let Some(target) = resolve(module, &path, &modules)
                && target != *module
                && target != "crate"
            {
                imported.insert(target);
            }
        }
    }
    graph
}

/// The code of a file: no comment lines, and no test module (by convention the last item).
fn code_of(text: &str) -> String {
    let text = text.find("#[cfg(test)]\nmod ").map_or(text, |at| &text[..at]);
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Splits out every `use …;` (any visibility) as its tree text; the rest of the code stays.
fn use_declarations(code: &str) -> (Vec<String>, String) {
    let mut uses = Vec::new();
    let mut rest = String::new();
    let mut remaining = code;
    while let Some(at) = find_use(remaining) {
        rest.push_str(&remaining[..at]);
        let after = &remaining[at + "use ".len()..];
        let end = after.find(';').unwrap_or(after.len());
        uses.push(after[..end].split_whitespace().collect::<Vec<_>>().join(" "));
        remaining = after.get(end + 1..).unwrap_or("");
    }
    rest.push_str(remaining);
    (uses, rest)
}

/// Where the next `use` keyword starts a declaration (at a line start, after any `pub(…)`).
fn find_use(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let visibility = ["pub(crate) ", "pub(super) ", "pub "].iter().find(|v| trimmed.starts_with(**v));
        let after_visibility = visibility.map_or(trimmed, |v| &trimmed[v.len()..]);
        if after_visibility.starts_with("use ") {
            return Some(offset + (line.len() - after_visibility.len()));
        }
        offset += line.len();
    }
    None
}

/// `a::{b, c::{self, D as E}}` into `a::b`, `a::c`, `a::c::D`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let segments = |path: &str| -> Vec<String> {
        let path = path.split(" as ").next().unwrap_or(path);
        path.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
            .map(String::from)
            .collect()
    };
    let Some(open) = tree.find('{') else { return vec![segments(tree)] };
    let prefix = segments(&tree[..open]);
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start, mut branches) = (0usize, 0usize, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                branches.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    branches.push(&inner[start..]);
    branches
        .into_iter()
        .filter(|branch| !branch.trim().is_empty())
        .flat_map(expand_use_tree)
        .map(|tail| prefix.iter().cloned().chain(tail).collect())
        .collect()
}

/// Paths written in the code itself (`crate::error::ApiError::from`, `super::node::Node`,
/// `context::Services`): every `a::b…` that does not continue another path.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_path = is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':'));
        if !starts_path {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        loop {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            segments.push(chars[start..i].iter().collect::<String>());
            if chars.get(i) == Some(&':')
                && chars.get(i + 1) == Some(&':')
                && chars.get(i + 2).is_some_and(|c| is_ident(*c))
            {
                i += 2;
            } else {
                break;
            }
        }
        if segments.len() > 1 {
            paths.push(segments);
        }
    }
    paths
}

/// The module a path from `module` lands in: the longest run of its segments naming modules.
/// Paths into other crates land nowhere.
fn resolve(module: &str, path: &[String], modules: &BTreeSet<&str>) -> Option<String> {
    let (mut current, mut rest) = match path.first().map(String::as_str) {
        Some("crate") => ("crate".to_owned(), &path[1..]),
        Some("self") => (module.to_owned(), &path[1..]),
        Some("super") => {
            let mut current = module.to_owned();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                current = parent_of(&current);
                rest = &rest[1..];
            }
            (current, rest)
        }
        Some(child) if modules.contains(join(module, child).as_str()) => (module.to_owned(), path),
        _ => return None,
    };
    while let Some(next) = rest.first() {
        let candidate = join(&current, next);
        if !modules.contains(candidate.as_str()) {
            break;
        }
        current = candidate;
        rest = &rest[1..];
    }
    Some(current)
}

/// Every set of modules that import each other in a loop (strongly connected components).
fn cycles(graph: &ModuleGraph) -> Vec<Vec<String>> {
    struct Search<'g> {
        graph: &'g ModuleGraph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, module: &'g str) {
            let number = self.index.len();
            self.index.insert(module, number);
            self.low.insert(module, number);
            self.stack.push(module);
            for next in self.graph.get(module).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[module].min(self.low[next]);
                    self.low.insert(module, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[module].min(self.index[next]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let at = self.stack.iter().rposition(|m| *m == module).expect("on the stack");
                let component: Vec<String> = self.stack.drain(at..).map(String::from).collect();
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut search =
        Search { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for module in graph.keys() {
        if !search.index.contains_key(module.as_str()) {
            search.visit(module);
        }
    }
    search.found
}

/// A cycle, with the imports that close it, for a failure message.
fn describe(graph: &ModuleGraph, cycle: &[String]) -> String {
    let mut lines = Vec::new();
    for from in cycle {
        for to in graph.get(from).into_iter().flatten().filter(|to| cycle.contains(to)) {
            lines.push(format!("  {from} -> {to}"));
        }
    }
    format!("{}:\n{}", cycle.join(", "), lines.join("\n"))
}

fn within(module: &str, root: &str) -> bool {
    module == root || module.strip_prefix(root).is_some_and(|rest| rest.starts_with("::"))
}

/// Every import of a module inside `from` into a module inside `to`.
fn imports_between(graph: &ModuleGraph, from: &str, to: &str) -> Vec<String> {
    graph
        .iter()
        .filter(|(module, _)| within(module, from))
        .flat_map(|(module, imports)| {
            imports.iter().filter(|target| within(target, to)).map(move |target| format!("{module} -> {target}"))
        })
        .collect()
}

#[test]
fn api_modules_import_each_other_one_way() {
    let graph = api_modules();

    let found: Vec<String> = cycles(&graph).iter().map(|cycle| describe(&graph, cycle)).collect();

    assert!(found.is_empty(), "modules of api import each other in a loop:\n{}", found.join("\n"));
}

#[test]
fn only_the_ports_of_the_wiring_are_imported() {
    let graph = api_modules();

    let offenders: Vec<String> = ["auth", "graphql", "http"]
        .iter()
        .flat_map(|from| imports_between(&graph, from, "app"))
        .filter(|edge| !edge.ends_with("-> app::ports"))
        .collect();

    assert!(offenders.is_empty(), "auth, graphql and http may import only app::ports of app: {offenders:?}");
}

#[test]
fn areas_use_global_ids_not_the_node_interface() {
    let graph = api_modules();

    let offenders: Vec<String> = AREAS.iter().flat_map(|area| imports_between(&graph, area, "graphql::node")).collect();

    assert!(offenders.is_empty(), "areas encode ids with graphql::global_id, never graphql::node: {offenders:?}");
}

#[test]
fn http_knows_a_schema_and_a_caller_not_the_areas() {
    let graph = api_modules();

    let mut offenders: Vec<String> =
        AREAS.iter().chain(&["graphql::loaders"]).flat_map(|inside| imports_between(&graph, "http", inside)).collect();
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src/http");
    visit(&http, &mut |path, text| {
        if code_of(text).contains("DataLoader") {
            offenders.push(format!("{} names a DataLoader", path.display()));
        }
    });

    assert!(offenders.is_empty(), "per-request GraphQL data is graphql::context's business: {offenders:?}");
}

#[test]
fn leaves_import_only_what_they_are_documented_to() {
    let graph = api_modules();

    for (leaf, allowed) in LEAVES {
        let imports = graph.get(leaf).unwrap_or_else(|| panic!("{leaf} is no module of api any more; update LEAVES"));
        let extra: Vec<_> = imports.iter().filter(|target| !allowed.contains(&target.as_str())).collect();
        assert!(extra.is_empty(), "{leaf} is a leaf that may import only {allowed:?}; it imports {extra:?}");
    }
}

#[test]
fn the_module_graph_sees_grouped_inline_and_relative_imports_and_finds_loops() {
    let files = [
        ("crate", "pub mod a;\npub mod b;\n"),
        (
            "a",
            "//! Docs naming crate::b::Y are no import.\nmod c;\nuse crate::{\n    error::E,\n    b::{self, Y},\n};\n",
        ),
        ("a::c", "pub fn f() -> super::super::error::E { todo!() }\n"),
        ("b", "pub(crate) use super::a::c::f;\n#[cfg(test)]\nmod tests {\n    use crate::error::E;\n}\n"),
        ("error", "pub struct E;\n"),
    ];
    let files: Vec<(String, String)> = files.iter().map(|(m, t)| ((*m).to_owned(), (*t).to_owned())).collect();

    let graph = module_graph(&files);

    let imports = |module: &str| graph[module].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(imports("a"), ["b", "error"]);
    assert_eq!(imports("a::c"), ["error"]);
    assert_eq!(imports("b"), ["a::c"]);
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());

    let mut looped = files.clone();
    looped[2].1.push_str("use crate::b;\n");
    let graph = module_graph(&looped);
    let found = cycles(&graph);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].iter().collect::<BTreeSet<_>>(),
        ["a::c", "b"].iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().iter().collect()
    );
}

// ---- who may make an actor ---------------------------------------------------------------
//
// The compiler keeps members, key holders and scopes to `domain` (private fields, `pub(crate)`
// constructors; see the `compile_fail` examples on `domain::auth::Member`). Two things it cannot
// see are checked here: which module of `domain` authenticates, and who makes an operator,
// whose proof has to be `pub` for the `keel` command line in `api` to make one.

/// Every `.rs` file of the workspace's crates, with its code lines (comments dropped), by path
/// relative to the workspace root.
fn workspace_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for member in ["domain", "persistence", "migration", "api", "processors", "webhooks", "tests"] {
        visit(&root.join(member), &mut |path, text| {
            let relative = path.strip_prefix(&root).expect("under the workspace").display().to_string();
            let code: Vec<&str> = text.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
            files.push((relative, code.join("\n")));
        });
    }
    files
}

/// `code` up to its unit-test module (`#[cfg(test)]` then a `mod` of any visibility), which by
/// convention is the last item.
fn before_unit_tests(code: &str) -> &str {
    let lines: Vec<&str> = code.lines().collect();
    let tests = lines.windows(2).position(|pair| pair[0].trim() == "#[cfg(test)]" && pair[1].contains("mod "));
    match tests {
        Some(line) => {
            let offset: usize = lines[..line].iter().map(|l| l.len() + 1).sum();
            &code[..offset]
        }
        None => code,
    }
}

/// The files (other than `allowed` and this one) whose code contains `needle`; with
/// `unit_tests`, in their unit-test modules too.
fn naming_outside(needle: &str, allowed: &[&str], unit_tests: bool) -> Vec<String> {
    workspace_sources()
        .into_iter()
        .filter(|(path, code)| {
            let code = if unit_tests { code.as_str() } else { before_unit_tests(code) };
            code.contains(needle) && path != "tests/architecture.rs"
        })
        .filter(|(path, _)| !allowed.iter().any(|prefix| path.starts_with(prefix)))
        .map(|(path, _)| path)
        .collect()
}

/// No test may make one either: tests reach the operator through `api::app::tenant`, as the
/// `keel` binary does.
#[test]
fn only_the_keel_command_line_makes_an_operator() {
    let allowed = ["api/src/app/", "domain/src/auth/mod.rs"];

    let offenders = naming_outside("from_command_line", &allowed, true);
    let makers = naming_outside("from_command_line", &[], true);

    assert!(offenders.is_empty(), "only api/src/app/ may make an OperatorConsole: {offenders:?}");
    assert!(makers.iter().any(|path| path.starts_with("api/src/app/")), "the check found no maker at all: {makers:?}");
}

/// Outside `domain` the compiler already refuses; inside it, unit tests of the rules may make
/// actors (they are the crate's own and prove what an actor may do), nothing else may.
#[test]
fn only_authentication_makes_members_and_key_holders() {
    let allowed = ["domain/src/identity/sessions.rs", "domain/src/auth/mod.rs"];

    let offenders: Vec<String> = ["Member::authenticated", "KeyHolder::authenticated"]
        .iter()
        .flat_map(|constructor| naming_outside(constructor, &allowed, false))
        .collect();
    let makers = naming_outside("Member::authenticated", &[], false);

    assert!(offenders.is_empty(), "only domain's authentication builds an Actor::Member or ApiKey: {offenders:?}");
    assert!(makers.iter().any(|path| path.ends_with("sessions.rs")), "the check found no maker at all: {makers:?}");
}
