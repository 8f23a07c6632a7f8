//! The catalog: products (sku, name, description, price, active, version) and locations
//! (warehouses).
//!
//! Products change only with the version the client last saw: a stale `expected_version` is a
//! `Conflict` and changes nothing, never a lost update. Prices are in the tenant's currency.
//! A product's fields are all checked before anything is written, and every bad one is
//! reported, not only the first. Product lists are read in a [`ProductSort`]: by creation,
//! update, name (case-insensitively), SKU or price, either way, with the id breaking ties.
//!
//! # Layout
//!
//! - `model`: the values: [`Sku`], [`Product`], [`Location`], [`ProductFilter`], [`ProductSort`].
//! - `products`: [`CreateProduct`], [`UpdateProduct`] and the product use-cases.
//! - `locations`: the location use-cases.
//!
//! This module only declares them and names their public items.

mod locations;
mod model;
mod products;

pub use locations::{create_location, location, locations, update_location};
pub use model::{
    Location, MAX_DESCRIPTION_CHARS, MAX_LOW_STOCK_THRESHOLD, MAX_NAME_CHARS, MAX_SEARCH_CHARS, Product, ProductFilter,
    ProductSort, ProductSortKey, Sku, archived_visible_to, name_sort_key, parse_low_stock_threshold,
};
pub use products::{
    CreateProduct, ProductPage, StockInclude, UpdateProduct, create_product, product, product_by_sku, products,
    update_product,
};
