//! Global ids as clients see them: `Kind:key` in unpadded base64url, opaque to everyone else.
//! Tests make them to ask for rows that exist nowhere, and read them to reach the database row
//! behind one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The global id of the `kind` row with `key` (`global_id("Product", "0190…")`).
pub fn global_id(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// A well-formed global id of `kind` that exists nowhere.
pub fn unknown_id(kind: &str) -> String {
    global_id(kind, &uuid::Uuid::now_v7().simple().to_string())
}

/// The key of global id `id`: what follows its `Kind:`.
///
/// # Panics
/// When `id` is not a global id.
pub fn global_id_key(id: &str) -> String {
    let raw = URL_SAFE_NO_PAD.decode(id).ok().and_then(|raw| String::from_utf8(raw).ok());
    raw.as_deref()
        .and_then(|raw| raw.split_once(':'))
        .map(|(_, key)| key.to_owned())
        .unwrap_or_else(|| panic!("{id} is not a global id (base64url of Kind:key)"))
}

/// The UUID behind global id `id` (the key of every Keel row), as event payloads carry it.
///
/// # Panics
/// When `id` is not a global id whose key is a UUID.
pub fn global_id_uuid(id: &str) -> uuid::Uuid {
    let key = global_id_key(id);
    uuid::Uuid::parse_str(&key).unwrap_or_else(|err| panic!("global id {id} holds {key}, not a UUID: {err}"))
}
