//! Opaque global ids: the only place they are encoded or decoded.
//!
//! A global id is the unpadded base64url of `Type:uuid`; clients must treat it as opaque. An id
//! of the wrong type answers like an unknown id (`NOT_FOUND`, or `null` from `node`), so ids
//! never reveal what exists elsewhere. A leaf: every area encodes its ids here, and the `Node`
//! interface, which knows every area, lives apart in [`super::node`].

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// The object types that have global ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A tenant.
    Tenant,
    /// A member.
    Member,
    /// An API key.
    ApiKey,
    /// An audit log entry.
    AuditEntry,
    /// A product.
    Product,
    /// A location.
    Location,
    /// A stock movement.
    StockMovement,
    /// An order.
    Order,
    /// A payment.
    Payment,
    /// A refund.
    Refund,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery.
    WebhookDelivery,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::Tenant,
        Kind::Member,
        Kind::ApiKey,
        Kind::AuditEntry,
        Kind::Product,
        Kind::Location,
        Kind::StockMovement,
        Kind::Order,
        Kind::Payment,
        Kind::Refund,
        Kind::WebhookEndpoint,
        Kind::WebhookDelivery,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Tenant => "Tenant",
            Kind::Member => "Member",
            Kind::ApiKey => "ApiKey",
            Kind::AuditEntry => "AuditEntry",
            Kind::Product => "Product",
            Kind::Location => "Location",
            Kind::StockMovement => "StockMovement",
            Kind::Order => "Order",
            Kind::Payment => "Payment",
            Kind::Refund => "Refund",
            Kind::WebhookEndpoint => "WebhookEndpoint",
            Kind::WebhookDelivery => "WebhookDelivery",
        }
    }
}

/// The longest global id accepted, in characters (the longest Keel makes, a stock level's, has
/// 102); longer input is refused before it is decoded, and never echoed.
pub const MAX_ID_CHARS: usize = 128;

/// Encodes a global id.
pub fn encode(kind: Kind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id.simple())))
}

/// Decodes an id that should be of `kind` for a mutation's input: a well-formed id of another
/// type stands for an object that does not exist (the nil UUID), exactly like an unknown id, so
/// the use-case answers it as one.
///
/// # Errors
/// `BAD_USER_INPUT` for text that is not a Keel id.
pub fn decode_or_unknown(kind: Kind, id: &ID) -> Result<Uuid, ApiError> {
    match decode(kind, id) {
        Err(err) if err.code() == ErrorCode::NotFound => Ok(Uuid::nil()),
        other => other,
    }
}

/// Decodes any global id; `None` if it is not one of Keel's.
pub fn decode_any(id: &str) -> Option<(Kind, Uuid)> {
    let raw = decode_bounded(id)?;
    let text = std::str::from_utf8(&raw).ok()?;
    let (name, uuid) = text.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    Some((kind, Uuid::try_parse(uuid).ok()?))
}

/// The global id of a stock level, which is identified by its product and location.
pub fn encode_stock_level(product: Uuid, location: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("StockLevel:{}:{}", product.simple(), location.simple())))
}

/// Decodes a stock level's global id into (product, location).
pub fn decode_stock_level(id: &str) -> Option<(Uuid, Uuid)> {
    let raw = decode_bounded(id)?;
    let rest = std::str::from_utf8(&raw).ok()?.strip_prefix("StockLevel:")?;
    let (product, location) = rest.split_once(':')?;
    Some((Uuid::try_parse(product).ok()?, Uuid::try_parse(location).ok()?))
}

/// Decodes a global id that must be of `kind`.
///
/// # Errors
/// `BAD_USER_INPUT` for something that is not a Keel id; `NOT_FOUND` for an id of another
/// type, which is as unknown here as an id that never existed.
pub fn decode(kind: Kind, id: &ID) -> Result<Uuid, ApiError> {
    match decode_any(id) {
        Some((found, uuid)) if found == kind => Ok(uuid),
        Some(_) => Err(ApiError::new(ErrorCode::NotFound, "not found")),
        None if id.len() > MAX_ID_CHARS => {
            Err(ApiError::new(ErrorCode::BadUserInput, format!("a Keel id has at most {MAX_ID_CHARS} characters")))
        }
        None => Err(ApiError::new(ErrorCode::BadUserInput, format!("`{}` is not a Keel id", id.as_str()))),
    }
}

/// The bytes of an id of at most [`MAX_ID_CHARS`] characters.
fn decode_bounded(id: &str) -> Option<Vec<u8>> {
    let id = id.trim();
    if id.len() > MAX_ID_CHARS {
        return None;
    }
    URL_SAFE_NO_PAD.decode(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_id_is_refused_without_being_echoed() {
        let long = ID("A".repeat(MAX_ID_CHARS + 1));

        let refused = decode(Kind::Product, &long).expect_err("too long");

        assert_eq!(refused.code(), ErrorCode::BadUserInput);
        assert!(!format!("{refused:?}").contains("AAAA"), "{refused:?}");
        assert!(decode_any(&long).is_none() && decode_stock_level(&long).is_none());
    }

    #[test]
    fn global_ids_round_trip_and_carry_their_type() {
        let uuid = Uuid::now_v7();

        let id = encode(Kind::Member, uuid);

        assert_eq!(decode(Kind::Member, &id).ok(), Some(uuid));
        assert_eq!(decode(Kind::ApiKey, &id).map_err(|e| e.code()).err(), Some(ErrorCode::NotFound));
        assert_eq!(
            decode(Kind::Member, &ID("garbage!".into())).map_err(|e| e.code()).err(),
            Some(ErrorCode::BadUserInput)
        );
        assert!(decode_any(&URL_SAFE_NO_PAD.encode("Order:not-a-uuid")).is_none());
        assert_eq!(decode(Kind::Order, &encode(Kind::Order, uuid)).ok(), Some(uuid));
        let (product, location) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(decode_stock_level(&encode_stock_level(product, location)), Some((product, location)));
        assert_eq!(decode_any(&encode_stock_level(product, location)), None);
    }
}
