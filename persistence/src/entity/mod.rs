//! sea-orm entities, one module per table. They stay in this crate: repositories convert them
//! to and from domain types, and nothing outside sees a `Model`.

pub mod api_keys;
pub mod audit_log;
pub mod events;
pub mod idempotency_keys;
pub mod locations;
pub mod order_lines;
pub mod order_numbers;
pub mod order_transitions;
pub mod orders;
pub mod payment_settings;
pub mod payments;
pub mod products;
pub mod refresh_tokens;
pub mod refunds;
pub mod sessions;
pub mod stock_levels;
pub mod stock_movements;
pub mod tenants;
pub mod users;
pub mod webhook_attempts;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
