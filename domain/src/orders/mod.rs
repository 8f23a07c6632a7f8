//! Orders: placement with an all-or-nothing stock reservation, the status state machine with
//! its history, and the expiry of unpaid orders.
//!
//! Rules: lines are priced from the catalog at placement and the prices are kept on the lines;
//! every line's stock is reserved in the same transaction as the order, with the conditional
//! updates of [`crate::inventory`], so a placement either reserves everything or nothing and
//! nothing is ever oversold. A status changes only along [`OrderStatus::can_become`], and only
//! if the stored status is still the one checked (compare-and-set), so two concurrent changes
//! (a person cancelling while the expiry job runs) cannot both release the same stock. Every
//! change appends to the order's history and writes an event to the outbox in the same
//! transaction.
//!
//! Transactions that the database aborts for contention (deadlock, serialization failure) are
//! run again (`crate::retry`), so no such error reaches a client; levels are always locked in
//! product order, which keeps deadlocks rare to begin with.
//!
//! # Layout
//!
//! - `model`: the values: [`OrderNumber`], [`Order`], [`OrderLine`], [`Transition`],
//!   [`OrderFilter`].
//! - [`status`]: [`OrderStatus`] and its transition table.
//! - `place`: [`PlaceOrder`] parsed from input, and [`place_order`] with its pricing.
//! - `lifecycle`: [`StatusChange`], [`change_status`] with what it answers ([`StatusChanged`]),
//!   and [`expire_unpaid_orders`] past a [`PaymentTimeout`], reporting an [`ExpiryRun`].
//! - `transition`: `apply_transition`, the one way a status changes (stock, history, event),
//!   for the lifecycle here and for payments.
//! - `queries`: [`order`], [`order_by_number`], [`orders`], [`histories`], [`line_products`],
//!   with [`Include`] and [`Related`].
//!
//! This module only declares them and names their public items.

mod lifecycle;
mod model;
mod place;
mod queries;
pub mod status;
mod transition;

pub use lifecycle::{
    ExpiryFailure, ExpiryRun, PaymentTimeout, StatusChange, StatusChanged, change_status, expire_unpaid_orders,
};
pub use model::{Order, OrderFilter, OrderLine, OrderNumber, Transition};
pub use place::{MAX_LINE_QUANTITY, MAX_LINES, PlaceOrder, ProductRef, RawLine, RequestedLine, place_order};
pub use queries::{Include, Related, histories, line_products, order, order_by_number, orders};
pub use status::OrderStatus;
pub(crate) use transition::apply_transition;
