//! Locations: the warehouses and shop floors that hold stock, created with a code unique in
//! the tenant and renamed at will.

use super::model::{Location, Sku};
use crate::auth::{Caller, Permission, authorize};
use crate::error::DomainError;
use crate::ids::LocationId;
use crate::page::{Page, PageRequest};
use crate::ports::{CatalogRepo, Crypto, Ports, Store, Tx};
use crate::text::parse_text;

/// Adds a location.
///
/// # Errors
/// `Forbidden` without `catalog:write`; `Invalid` for a bad or taken code (`TAKEN`) or name.
pub async fn create_location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    code: &str,
    name: &str,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let code = Sku::parse("code", code)?;
    let name = parse_text("name", name, 200)?;
    let now = ports.clock.now();
    let location = Location { id: LocationId::new(), code, name, created_at: now, updated_at: now };
    let tx = ports.store.begin(&scope).await?;
    tx.insert_location(&scope, &location).await?;
    tx.commit().await?;
    Ok(location)
}

/// Renames a location.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Invalid` for a bad name.
pub async fn update_location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: LocationId,
    name: &str,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::CatalogWrite)?;
    let name = parse_text("name", name, 200)?;
    let tx = ports.store.begin(&scope).await?;
    let current = tx.location(&scope, id).await?.ok_or(DomainError::NotFound)?;
    let changed = Location { name, updated_at: ports.clock.now(), ..current };
    tx.update_location(&scope, &changed).await?;
    tx.commit().await?;
    Ok(changed)
}

/// One location.
///
/// # Errors
/// `NotFound` for unknown or foreign ids; `Forbidden` without `inventory:read`.
pub async fn location<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    id: LocationId,
) -> Result<Location, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let found = tx.location(&scope, id).await?;
    tx.commit().await?;
    found.ok_or(DomainError::NotFound)
}

/// A page of locations, oldest first.
///
/// # Errors
/// `Forbidden` without `inventory:read`.
pub async fn locations<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Location>, DomainError> {
    let scope = authorize(&caller.actor, Permission::InventoryRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let locations = tx.locations(&scope, page).await?;
    tx.commit().await?;
    Ok(locations)
}
