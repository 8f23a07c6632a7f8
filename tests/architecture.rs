//! Dependencies point inward (CONVENTIONS.md §1): this reads `cargo metadata` and the sources
//! and fails on a forbidden edge, so a stray import is caught by `cargo test`, not in review.

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
    let allowed: BTreeSet<String> = ["thiserror", "uuid", "time", "tracing"].map(String::from).into();

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
