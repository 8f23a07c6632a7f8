//! Reading the audit log (entries are appended by the use-cases that act).

use super::AuditEntry;
use crate::auth::{Caller, Permission, authorize};
use crate::error::DomainError;
use crate::page::{Page, PageRequest};
use crate::ports::{Crypto, IdentityRepo, Ports, Store, Tx};

/// A page of the audit log, newest first.
///
/// # Errors
/// `Forbidden` without `audit:read` (owners and admins).
pub async fn audit_log<S: Store, C: Crypto>(
    ports: &Ports<S, C>,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, DomainError> {
    let scope = authorize(&caller.actor, Permission::AuditRead)?;
    let tx = ports.store.begin_read(&scope).await?;
    let entries = tx.audit_entries(&scope, page).await?;
    tx.commit().await?;
    Ok(entries)
}
