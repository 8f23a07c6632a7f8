//! Relay-style pagination requests and pages, decided here so every list pages the same way:
//! keyset on the (time-ordered) id, at most [`MAX_PAGE_SIZE`] items, `first`/`after` or
//! `last`/`before`, never both directions at once.

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

/// A checked request for one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items.
    pub limit: usize,
    /// Which way.
    pub direction: Direction,
    /// The cursor (an item id) to start after (forward) or before (backward).
    pub cursor: Option<Uuid>,
}

impl PageRequest {
    /// The first `limit` items of a list.
    pub fn first(limit: usize) -> Self {
        PageRequest { limit, direction: Direction::Forward, cursor: None }
    }

    /// Checks Relay arguments; cursors are already decoded to ids.
    ///
    /// # Errors
    /// `Invalid` naming the argument: both `first` and `last`, a negative size or one above
    /// [`MAX_PAGE_SIZE`], `after` with `last` or `before` with `first`.
    pub fn new(
        first: Option<i32>,
        after: Option<Uuid>,
        last: Option<i32>,
        before: Option<Uuid>,
    ) -> Result<Self, Invalid> {
        let size = |field: &str, n: i32| match usize::try_from(n) {
            Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
            _ => Err(Invalid::new(field, format!("must be between 0 and {MAX_PAGE_SIZE}"))),
        };
        match (first, last) {
            (Some(_), Some(_)) => Err(Invalid::new("last", "use either `first` or `last`, not both")),
            (_, Some(last)) => {
                if after.is_some() {
                    return Err(Invalid::new("after", "`after` pages forward; use it with `first`"));
                }
                Ok(PageRequest { limit: size("last", last)?, direction: Direction::Backward, cursor: before })
            }
            (first, None) => {
                if before.is_some() && first.is_some() {
                    return Err(Invalid::new("before", "`before` pages backward; use it with `last`"));
                }
                if before.is_some() {
                    return Ok(PageRequest {
                        limit: DEFAULT_PAGE_SIZE,
                        direction: Direction::Backward,
                        cursor: before,
                    });
                }
                let limit = first.map(|n| size("first", n)).transpose()?.unwrap_or(DEFAULT_PAGE_SIZE);
                Ok(PageRequest { limit, direction: Direction::Forward, cursor: after })
            }
        }
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

    #[test]
    fn page_arguments_are_checked() {
        let id = Uuid::now_v7();

        assert_eq!(PageRequest::new(None, None, None, None).map(|p| p.limit), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(PageRequest::new(Some(100), Some(id), None, None).map(|p| (p.limit, p.cursor)), Ok((100, Some(id))));
        assert_eq!(PageRequest::new(None, None, Some(5), Some(id)).map(|p| p.direction), Ok(Direction::Backward));
        assert!(PageRequest::new(Some(101), None, None, None).is_err());
        assert!(PageRequest::new(Some(-1), None, None, None).is_err());
        assert!(PageRequest::new(Some(1), None, Some(1), None).is_err());
        assert!(PageRequest::new(None, Some(id), Some(1), None).is_err());
        assert!(PageRequest::new(Some(1), None, None, Some(id)).is_err());
    }
}
