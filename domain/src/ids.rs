//! Typed identifiers. Every id wraps a UUIDv7 (time-ordered, so keyset pagination by id is
//! creation order) and is its own type, so an `OrderId` can never be passed where a `UserId`
//! is expected.

use std::fmt;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            /// Wraps an id read from storage or decoded from a global id.
            pub fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            /// The raw UUID, for storage and encoding.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// A tenant (shop).
    TenantId
);
typed_id!(
    /// A member of a tenant: owner, admin, staff or customer.
    UserId
);
typed_id!(
    /// A login session: one refresh-token family.
    SessionId
);
typed_id!(
    /// One refresh token of a session.
    RefreshTokenId
);
typed_id!(
    /// An API key.
    ApiKeyId
);
typed_id!(
    /// An audit log entry.
    AuditEntryId
);
typed_id!(
    /// A product.
    ProductId
);
typed_id!(
    /// A location (warehouse).
    LocationId
);
typed_id!(
    /// A stock movement (one ledger line).
    StockMovementId
);
typed_id!(
    /// An order.
    OrderId
);
typed_id!(
    /// One entry of an order's status history.
    OrderTransitionId
);
typed_id!(
    /// A domain event in the outbox.
    EventId
);
typed_id!(
    /// A payment: one attempt to take an order's total.
    PaymentId
);
typed_id!(
    /// A refund of (part of) a payment.
    RefundId
);
typed_id!(
    /// A shop's webhook endpoint.
    WebhookEndpointId
);
typed_id!(
    /// One event's delivery to one webhook endpoint.
    WebhookDeliveryId
);
