//! Relay connections: cursor encoding and the arguments every list takes.
//!
//! A cursor is opaque to clients: unpadded base64url of bytes only this module reads. In a list
//! ordered by id alone (UUIDv7, so creation-ordered) it is the item's 16-byte id. In a sorted
//! list it is `1` (the format), the order's name (length-prefixed), the item's value under the
//! sort key (a tag, then the value) and its id:
//!
//! ```text
//! 0x01 | len u8 | order name | tag u8 | value | id (16 bytes)
//! tag 1 text: len u16 BE + UTF-8 · tag 2 integer: i64 BE · tag 3 time: Unix nanoseconds i128 BE
//! ```
//!
//! Either way a cursor is a keyset position, never an offset, so pages stay stable under
//! concurrent inserts; whether it fits the list it is used with is decided in `domain::page`.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::page::{Cursor, Page, PageRequest, SortOrder, SortValue};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// The longest cursor accepted, in characters. The longest Keel makes (a product name of 200
/// four-byte characters, sorted by name) has about 1,100; longer input is refused undecoded.
pub const MAX_CURSOR_CHARS: usize = 2048;

/// The first byte of a cursor of a sorted list.
const SORTED_FORMAT: u8 = 1;
const TEXT: u8 = 1;
const INTEGER: u8 = 2;
const TIME: u8 = 3;

/// Encodes a cursor.
pub fn cursor(position: &Cursor) -> String {
    let Some(value) = &position.value else { return URL_SAFE_NO_PAD.encode(position.id.as_bytes()) };
    let mut bytes = vec![SORTED_FORMAT];
    // Order names are short constants (`CREATED_AT`); texts are at most a few hundred bytes.
    // Both are clipped rather than trusted to fit, so encoding can never panic.
    let order = &position.order.as_bytes()[..position.order.len().min(usize::from(u8::MAX))];
    bytes.push(u8::try_from(order.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(order);
    match value {
        SortValue::Text(text) => {
            let text = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
            bytes.push(TEXT);
            bytes.extend_from_slice(&u16::try_from(text.len()).unwrap_or(u16::MAX).to_be_bytes());
            bytes.extend_from_slice(text);
        }
        SortValue::Integer(n) => {
            bytes.push(INTEGER);
            bytes.extend_from_slice(&n.to_be_bytes());
        }
        SortValue::Time(time) => {
            bytes.push(TIME);
            bytes.extend_from_slice(&time.unix_timestamp_nanos().to_be_bytes());
        }
    }
    bytes.extend_from_slice(position.id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads bytes off the front of a decoded cursor.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|bytes| bytes.try_into().ok())
    }
}

/// Decodes a cursor's bytes; `None` for anything this module did not encode.
fn decode(bytes: &[u8]) -> Option<Cursor> {
    if let Ok(id) = Uuid::from_slice(bytes) {
        return Some(Cursor::by_id(id));
    }
    let mut reader = Reader(bytes);
    if reader.array::<1>()? != [SORTED_FORMAT] {
        return None;
    }
    let [order_len] = reader.array::<1>()?;
    let order = std::str::from_utf8(reader.take(usize::from(order_len))?).ok()?.to_owned();
    let value = match reader.array::<1>()? {
        [TEXT] => {
            let len = u16::from_be_bytes(reader.array::<2>()?);
            SortValue::Text(std::str::from_utf8(reader.take(usize::from(len))?).ok()?.to_owned())
        }
        [INTEGER] => SortValue::Integer(i64::from_be_bytes(reader.array::<8>()?)),
        [TIME] => {
            SortValue::Time(OffsetDateTime::from_unix_timestamp_nanos(i128::from_be_bytes(reader.array::<16>()?)).ok()?)
        }
        _ => return None,
    };
    let id = Uuid::from_bytes(reader.array::<16>()?);
    reader.0.is_empty().then_some(Cursor { order, value: Some(value), id })
}

fn decode_cursor(argument: &str, raw: Option<String>) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let raw = raw.trim();
    let cursor = (raw.len() <= MAX_CURSOR_CHARS)
        .then(|| URL_SAFE_NO_PAD.decode(raw).ok())
        .flatten()
        .and_then(|bytes| decode(&bytes));
    cursor
        .map(Some)
        .ok_or_else(|| ApiError::new(ErrorCode::BadUserInput, format!("`{argument}` is not a cursor from this list")))
}

/// Checks Relay arguments into a page request for a list ordered by id alone.
///
/// # Errors
/// `BAD_USER_INPUT` naming the argument (bad cursor, more than 100, both directions).
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<PageRequest, ApiError> {
    sorted_page_request(first, after, last, before, SortOrder::BY_ID)
}

/// Checks Relay arguments into a page request for a list read in `order`.
///
/// # Errors
/// `BAD_USER_INPUT` naming the argument (bad cursor, a cursor from another order, more than
/// 100, both directions).
pub fn sorted_page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
    order: SortOrder,
) -> Result<PageRequest, ApiError> {
    let after = decode_cursor("after", after)?;
    let before = decode_cursor("before", before)?;
    PageRequest::new(first, after, last, before, order)
        .map_err(|invalid| ApiError::new(ErrorCode::BadUserInput, invalid.to_string()))
}

/// Builds a connection from a page of a list ordered by id alone.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    id: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    sorted_connection(page, |item| Cursor::by_id(id(item)), node)
}

/// Builds a connection from a page, each edge's cursor made by `position`.
pub fn sorted_connection<T, N: OutputType>(
    page: Page<T>,
    position: impl Fn(&T) -> Cursor,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|item| Edge::new(cursor(&position(&item)), node(item))));
    connection
}

/// The complexity of a list field: its page size times the cost of one item.
pub fn list_complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first.or(last).and_then(|n| usize::try_from(n).ok()).unwrap_or(domain::page::DEFAULT_PAGE_SIZE);
    size.max(1).saturating_mul(child.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(position: &Cursor) -> Option<Cursor> {
        URL_SAFE_NO_PAD.decode(cursor(position)).ok().and_then(|bytes| decode(&bytes))
    }

    #[test]
    fn every_kind_of_cursor_round_trips() {
        let id = Uuid::now_v7();
        let order = |name| SortOrder { name, kind: domain::page::KeyKind::Text };
        let time = OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_789).expect("time");

        for position in [
            Cursor::by_id(id),
            Cursor::new(order("NAME"), SortValue::Text("äpfel & birnen".into()), id),
            Cursor::new(order("NAME"), SortValue::Text(String::new()), id),
            Cursor::new(order("PRICE"), SortValue::Integer(-1), id),
            Cursor::new(order("PRICE"), SortValue::Integer(i64::MAX), id),
            Cursor::new(order("CREATED_AT"), SortValue::Time(time), id),
        ] {
            assert_eq!(round_trip(&position), Some(position.clone()), "{position:?}");
        }
        assert_eq!(cursor(&Cursor::by_id(id)).len(), 22, "id cursors keep their 16-byte form");
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let id = Uuid::now_v7();
        let good = URL_SAFE_NO_PAD
            .decode(cursor(&Cursor::new(
                SortOrder { name: "PRICE", kind: domain::page::KeyKind::Integer },
                SortValue::Integer(5),
                id,
            )))
            .expect("base64");

        assert!(decode(&good).is_some());
        assert!(decode(&good[..good.len() - 1]).is_none(), "truncated");
        assert!(decode(&[good.clone(), vec![0]].concat()).is_none(), "trailing bytes");
        assert!(decode(&[&[2], &good[1..]].concat()).is_none(), "unknown format");
        let mut bad_tag = good.clone();
        bad_tag[2 + "PRICE".len()] = 9;
        assert!(decode(&bad_tag).is_none(), "unknown value tag");
        assert!(decode(b"").is_none());
        assert!(decode(&[SORTED_FORMAT, 200]).is_none());
        assert!(matches!(
            decode_cursor("after", Some("not base64!".into())).map_err(|e| e.code()),
            Err(ErrorCode::BadUserInput)
        ));
    }
}
