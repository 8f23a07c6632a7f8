//! The checked-in `schema.graphql` is the public contract: it must be what the code serves.

#[test]
fn schema_graphql_matches_the_schema_the_code_builds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));

    let built = api::graphql::sdl();

    assert!(
        checked_in == built,
        "schema.graphql is out of date with the code; update it with:\n\n    cargo run -- schema > schema.graphql\n\nthen review its diff as a client developer would"
    );
}
