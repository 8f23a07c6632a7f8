//! Stock: levels per product and location (`on_hand`, `reserved`, `available = on_hand −
//! reserved`) and the movement ledger that explains every number.
//!
//! Rules: nothing is ever negative and `reserved` never exceeds `on_hand`; every change appends
//! a [`StockMovement`], so a level always equals the sum of its movements. Storage applies each
//! change as one conditional statement (the same conditions as [`Level::apply`]), never
//! read-then-write, so concurrent changes cannot oversell. Nothing outside this module writes
//! stock.
//!
//! # Layout
//!
//! - `model`: the values: [`Reason`], [`Level`], [`Change`], [`StockLevel`], [`StockMovement`].
//! - `changes`: [`StockCommand`] checked from input, [`change_stock`], and the outbox events
//!   every level change writes (`stock.changed`, `stock.low`; see [`crate::events`]).
//! - `queries`: [`stock_level`], [`levels_of`], [`available_of`], [`stock_movements`].
//!
//! This module only declares them and names their public items.

mod changes;
mod model;
mod queries;

pub(crate) use changes::level_events;
pub use changes::{MAX_QUANTITY, StockCommand, change_stock, parse_quantity};
pub use model::{Change, Level, Reason, StockLevel, StockMovement};
pub use queries::{available_of, levels_of, stock_level, stock_movements};
