//! Relay-style pagination requests and pages, decided here so every list pages the same way:
//! keyset, never an offset, at most [`MAX_PAGE_SIZE`] items, `first`/`after` or `last`/`before`,
//! never both directions at once.
//!
//! A list is read in a [`SortOrder`]: by id alone (UUIDv7, so creation order), or by a sort key
//! with the id breaking ties. A [`Cursor`] remembers the order it was made in, the item's value
//! under that key and its id, so the next page starts strictly after `(value, id)` however many
//! rows were inserted meanwhile. A cursor made in one order is refused by a list read in
//! another: its position would mean nothing there.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Invalid;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 100;
/// The page size when the client names none.
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// Which way a page is read, relative to the list's own order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `first`/`after`: from the start of the list, or after a cursor.
    Forward,
    /// `last`/`before`: from the end of the list, or before a cursor.
    Backward,
}

/// What a list is sorted by before its id breaks ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Nothing: the list is ordered by id alone.
    Id,
    /// Text, compared byte by byte (code point order), the same on every backend.
    Text,
    /// A whole number.
    Integer,
    /// An instant.
    Time,
}

/// An item's value under a list's sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortValue {
    /// For [`KeyKind::Text`].
    Text(String),
    /// For [`KeyKind::Integer`].
    Integer(i64),
    /// For [`KeyKind::Time`].
    Time(OffsetDateTime),
}

impl SortValue {
    /// The kind of key this value belongs to.
    pub fn kind(&self) -> KeyKind {
        match self {
            SortValue::Text(_) => KeyKind::Text,
            SortValue::Integer(_) => KeyKind::Integer,
            SortValue::Time(_) => KeyKind::Time,
        }
    }
}

/// An order a list is read in: the name its cursors carry and the kind of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortOrder {
    /// The name cursors carry (`ID`, `CREATED_AT`, `NAME`, …), unique among one list's orders.
    pub name: &'static str,
    /// What the key is.
    pub kind: KeyKind,
}

impl SortOrder {
    /// By id alone: creation order, since ids are UUIDv7.
    pub const BY_ID: SortOrder = SortOrder { name: "ID", kind: KeyKind::Id };
}

/// A position in a list: the order it was made in, the item's value under that order's key
/// (none when the order is by id alone) and the item's id, which breaks ties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The [`SortOrder::name`] it was made in.
    pub order: String,
    /// The item's value under the order's key.
    pub value: Option<SortValue>,
    /// The item's id.
    pub id: Uuid,
}

impl Cursor {
    /// The cursor of an item in a list ordered by id alone.
    pub fn by_id(id: Uuid) -> Cursor {
        Cursor { order: SortOrder::BY_ID.name.to_owned(), value: None, id }
    }

    /// The cursor of an item with `value` under `order`.
    pub fn new(order: SortOrder, value: SortValue, id: Uuid) -> Cursor {
        Cursor { order: order.name.to_owned(), value: Some(value), id }
    }

    /// Whether this cursor is a position in a list read in `order`.
    pub fn fits(&self, order: SortOrder) -> bool {
        self.order == order.name
            && match (&self.value, order.kind) {
                (None, KeyKind::Id) => true,
                (Some(value), kind) => value.kind() == kind,
                (None, _) => false,
            }
    }
}

/// A checked request for one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items.
    pub limit: usize,
    /// Which way.
    pub direction: Direction,
    /// The position to start after (forward) or before (backward); it fits [`Self::order`].
    pub cursor: Option<Cursor>,
    /// The order the list is read in.
    pub order: SortOrder,
}

impl PageRequest {
    /// The first `limit` items of a list read in `order`.
    pub fn first(limit: usize, order: SortOrder) -> Self {
        PageRequest { limit, direction: Direction::Forward, cursor: None, order }
    }

    /// Checks Relay arguments for a list read in `order`; cursors are already decoded.
    ///
    /// # Errors
    /// `Invalid` naming the argument: both `first` and `last`, a negative size or one above
    /// [`MAX_PAGE_SIZE`], `after` with `last` or `before` with `first`, a cursor made in another
    /// order.
    pub fn new(
        first: Option<i32>,
        after: Option<Cursor>,
        last: Option<i32>,
        before: Option<Cursor>,
        order: SortOrder,
    ) -> Result<Self, Invalid> {
        let size = |field: &str, n: i32| match usize::try_from(n) {
            Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
            _ => Err(Invalid::new(field, format!("must be between 0 and {MAX_PAGE_SIZE}"))),
        };
        let (limit, direction, cursor) = match (first, last) {
            (Some(_), Some(_)) => return Err(Invalid::new("last", "use either `first` or `last`, not both")),
            (_, Some(last)) => {
                if after.is_some() {
                    return Err(Invalid::new("after", "`after` pages forward; use it with `first`"));
                }
                (size("last", last)?, Direction::Backward, before)
            }
            (first, None) => {
                if before.is_some() && first.is_some() {
                    return Err(Invalid::new("before", "`before` pages backward; use it with `last`"));
                }
                if before.is_some() {
                    (DEFAULT_PAGE_SIZE, Direction::Backward, before)
                } else {
                    let limit = first.map(|n| size("first", n)).transpose()?.unwrap_or(DEFAULT_PAGE_SIZE);
                    (limit, Direction::Forward, after)
                }
            }
        };
        if let Some(cursor) = &cursor
            && !cursor.fits(order)
        {
            let argument = if direction == Direction::Forward { "after" } else { "before" };
            return Err(Invalid::new(
                argument,
                "is a cursor from this list read in another order; page with the sort it was made with",
            ));
        }
        Ok(PageRequest { limit, direction, cursor, order })
    }
}

/// One page of a list, in list order, with whether more exists on either side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Whether items exist after the last one.
    pub has_next: bool,
    /// Whether items exist before the first one.
    pub has_previous: bool,
}

impl<T> Page<T> {
    /// Converts every item with a conversion that may fail; the first failure wins.
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        let items = self.items.into_iter().map(f).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, has_next: self.has_next, has_previous: self.has_previous })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: SortOrder = SortOrder { name: "NAME", kind: KeyKind::Text };
    const PRICE: SortOrder = SortOrder { name: "PRICE", kind: KeyKind::Integer };

    #[test]
    fn page_arguments_are_checked() {
        let id = || Some(Cursor::by_id(Uuid::now_v7()));
        let page = |first, after, last, before| PageRequest::new(first, after, last, before, SortOrder::BY_ID);

        assert_eq!(page(None, None, None, None).map(|p| p.limit), Ok(DEFAULT_PAGE_SIZE));
        let after = id();
        assert_eq!(page(Some(100), after.clone(), None, None).map(|p| (p.limit, p.cursor)), Ok((100, after)));
        assert_eq!(page(None, None, Some(5), id()).map(|p| p.direction), Ok(Direction::Backward));
        assert_eq!(page(None, None, None, id()).map(|p| (p.limit, p.direction)), Ok((20, Direction::Backward)));
        assert!(page(Some(101), None, None, None).is_err());
        assert!(page(Some(-1), None, None, None).is_err());
        assert!(page(Some(1), None, Some(1), None).is_err());
        assert!(page(None, id(), Some(1), None).is_err());
        assert!(page(Some(1), None, None, id()).is_err());
    }

    #[test]
    fn a_cursor_is_refused_by_a_list_read_in_another_order() {
        let id = Uuid::now_v7();
        let by_name = Cursor::new(NAME, SortValue::Text("mug".into()), id);
        let forged = Cursor { order: "NAME".into(), value: Some(SortValue::Integer(5)), id };
        let field = |r: Result<PageRequest, Invalid>| r.map(|p| p.order.name).map_err(|e| e.field().join("."));

        assert_eq!(field(PageRequest::new(Some(2), Some(by_name.clone()), None, None, NAME)), Ok("NAME"));
        assert_eq!(field(PageRequest::new(Some(2), Some(by_name.clone()), None, None, PRICE)), Err("after".into()));
        assert_eq!(field(PageRequest::new(None, None, Some(2), Some(by_name.clone()), PRICE)), Err("before".into()));
        assert_eq!(field(PageRequest::new(Some(2), Some(by_name), None, None, SortOrder::BY_ID)), Err("after".into()));
        assert_eq!(field(PageRequest::new(Some(2), Some(Cursor::by_id(id)), None, None, NAME)), Err("after".into()));
        assert_eq!(field(PageRequest::new(Some(2), Some(forged), None, None, NAME)), Err("after".into()));
        assert_eq!(field(PageRequest::new(Some(2), Some(Cursor::by_id(id)), None, None, SortOrder::BY_ID)), Ok("ID"));
    }
}
