//! Webhook endpoints and their deliveries through the GraphQL API: the documents and fixtures
//! the webhook, webhook-delivery and tenancy tests share.

use serde_json::{Value, json};

use crate::Client;

/// Every event type an endpoint may listen to, as the API names them.
pub const WEBHOOK_EVENT_TYPES: [&str; 12] = [
    "order.placed",
    "order.paid",
    "order.fulfilled",
    "order.cancelled",
    "order.partially_refunded",
    "order.refunded",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
    "refund.failed",
    "stock.changed",
    "stock.low",
];

/// Every field of a `WebhookEndpoint`.
pub const ENDPOINT_FIELDS: &str = "id url eventTypes description status previousSecretExpiresAt createdAt updatedAt";

/// Every field of a `WebhookDelivery`, its attempts included, and its endpoint's id.
pub const DELIVERY_FIELDS: &str = "id endpoint { id } eventId eventType status attemptCount nextAttemptAt
    createdAt updatedAt attempts { number attemptedAt httpStatus durationMs error }";

/// An endpoint just registered: its id, the secret shown this once, and the endpoint as the
/// creating answer showed it.
#[derive(Clone, Debug)]
pub struct CreatedEndpoint {
    /// Its global id.
    pub id: String,
    /// Its signing secret, `whsec_…`.
    pub secret: String,
    /// The `endpoint` of the answer, every field of it ([`ENDPOINT_FIELDS`]).
    pub endpoint: Value,
}

impl Client {
    /// `createWebhookEndpoint` with `input` (`{ url, eventTypes, description }`), answered
    /// whatever it says: `endpoint` with [`ENDPOINT_FIELDS`], `secret` and `userErrors`.
    pub async fn try_create_webhook_endpoint(&self, input: Value) -> crate::GqlResponse {
        let document = format!(
            "mutation($input: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $input) {{
                endpoint {{ {ENDPOINT_FIELDS} }} secret userErrors {{ field code message }} }} }}"
        );
        self.gql(&document, json!({ "input": input })).await
    }

    /// Registers an endpoint at `url` listening to `event_types`.
    ///
    /// # Panics
    /// When it is refused, showing the answer.
    pub async fn create_webhook_endpoint(&self, url: &str, event_types: &[&str]) -> CreatedEndpoint {
        let created = self.try_create_webhook_endpoint(json!({ "url": url, "eventTypes": event_types })).await;
        created.assert_accepted("createWebhookEndpoint");
        CreatedEndpoint {
            id: created.expect_str("/data/createWebhookEndpoint/endpoint/id"),
            secret: created.expect_str("/data/createWebhookEndpoint/secret"),
            endpoint: created.data()["createWebhookEndpoint"]["endpoint"].clone(),
        }
    }

    /// Every delivery to `endpoint` (of `status`, when given), newest first, every page read,
    /// each with [`DELIVERY_FIELDS`].
    ///
    /// # Panics
    /// When a page cannot be read, showing the answer.
    pub async fn webhook_deliveries(&self, endpoint: &str, status: Option<&str>) -> Vec<Value> {
        let document = format!(
            "query($endpoint: ID!, $status: WebhookDeliveryStatus, $after: String) {{
                webhookDeliveries(endpointId: $endpoint, status: $status, first: 100, after: $after) {{
                    edges {{ node {{ {DELIVERY_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let mut deliveries = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = self.gql(&document, json!({ "endpoint": endpoint, "status": status, "after": after })).await;
            deliveries.extend(page.nodes("webhookDeliveries"));
            let info = &page.data()["webhookDeliveries"]["pageInfo"];
            if info["hasNextPage"] != json!(true) {
                return deliveries;
            }
            after = info["endCursor"].clone();
            assert!(after.is_string(), "a next page without a cursor: {}", page.text);
        }
    }

    /// Delivery `id`, read through `node`, with [`DELIVERY_FIELDS`].
    ///
    /// # Panics
    /// When it cannot be read, showing the answer.
    pub async fn webhook_delivery(&self, id: &str) -> Value {
        let document =
            format!("query($id: ID!) {{ node(id: $id) {{ ... on WebhookDelivery {{ {DELIVERY_FIELDS} }} }} }}");
        let read = self.gql(&document, json!({ "id": id })).await;
        let delivery = read.data()["node"].clone();
        assert!(delivery.is_object(), "delivery {id} could not be read: {}", read.text);
        delivery
    }
}
