//! The outbox: every state change writes its domain events in its own transaction, read here
//! out of band from the `events` table ([`Outside::events`]). Each listed change writes exactly
//! its events with the documented, versioned payload; a change that wrote and then rolled back
//! leaves none; `stock.low` fires once per crossing of a product's threshold.

use std::collections::HashSet;

use keel_tests::{Client, OutboxRow, Outside, Shop, TestApp, global_id_key};
use serde_json::{Value, json};
use uuid::Uuid;

const PAY: &str = "mutation($input: PayOrderInput!) { payOrder(input: $input) {
    payment { id status } userErrors { field code message } } }";
const MARK_PAID: &str = "mutation($input: MarkOrderPaidInput!) { markOrderPaid(input: $input) {
    order { status } userErrors { field code message } } }";
const REFUND: &str = "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
    refund { id status } order { status } userErrors { field code message } } }";
const CANCEL: &str = "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const FULFILL: &str = "mutation($input: FulfillOrderInput!) { fulfillOrder(input: $input) {
    order { status } userErrors { field code message } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { number payments { id } } }";
const ADJUST: &str = "mutation($input: AdjustStockInput!) { adjustStock(input: $input) {
    stockLevel { available } userErrors { field code message } } }";
const TRANSFER: &str = "mutation($input: TransferStockInput!) { transferStock(input: $input) {
    from { onHand } userErrors { field code message } } }";
const PLACE: &str = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
    order { id } userErrors { field code message } } }";
const CREATE_PRODUCT: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) {
    product { id lowStockThreshold } userErrors { field code message } } }";
const UPDATE_PRODUCT: &str = "mutation($input: UpdateProductInput!) { updateProduct(input: $input) {
    product { lowStockThreshold } userErrors { field code message } } }";

/// Reads a shop's outbox from outside the server and hands out what was written since the last
/// look.
struct Outbox {
    outside: Outside,
    tenant: Uuid,
    seen: usize,
}

impl Outbox {
    async fn open(app: &TestApp, shop: &Shop) -> Outbox {
        let tenant = Uuid::parse_str(&global_id_key(&shop.tenant_id)).expect("a tenant id is a UUID");
        Outbox { outside: Outside::connect(app.database()).await, tenant, seen: 0 }
    }

    /// Every event so far.
    async fn all(&mut self) -> Vec<OutboxRow> {
        self.outside.events(self.tenant).await
    }

    /// The events written since the last call.
    async fn new_events(&mut self) -> Vec<OutboxRow> {
        let all = self.all().await;
        let fresh = all[self.seen..].to_vec();
        self.seen = all.len();
        fresh
    }

    /// The kinds of the events written since the last call, sorted.
    async fn new_kinds(&mut self) -> Vec<String> {
        kinds(&self.new_events().await).into_iter().map(str::to_owned).collect()
    }
}

/// The UUID behind global id `global`, hyphenated as payloads write it.
fn uuid_of(global: &str) -> String {
    Uuid::parse_str(&global_id_key(global)).expect("a global id's key is a UUID").to_string()
}

/// The kinds of `events`, sorted: events of one transaction are compared as a set.
fn kinds(events: &[OutboxRow]) -> Vec<&str> {
    let mut kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds
}

/// The payload of the one event of `kind` among `events`.
fn payload(events: &[OutboxRow], kind: &str) -> Value {
    let mut found = events.iter().filter(|event| event.kind == kind);
    let one = found.next().unwrap_or_else(|| panic!("no {kind} among {events:?}"));
    assert!(found.next().is_none(), "two {kind} among {events:?}");
    one.payload.clone()
}

/// The `stock.changed` payload the documentation promises.
fn stock_changed(product: &str, location: &str, level: [i64; 2], reason: &str, delta: [i64; 2]) -> Value {
    json!({
        "version": 1, "productId": uuid_of(product), "locationId": uuid_of(location),
        "onHand": level[0], "reserved": level[1], "available": level[0] - level[1], "reason": reason,
        "delta": { "onHand": delta[0], "reserved": delta[1], "available": delta[0] - delta[1] },
    })
}

/// The `order.*` payload the documentation promises.
fn order_payload(order: &str, number: i64, status: &str, total: &str) -> Value {
    json!({
        "version": 1, "orderId": uuid_of(order), "number": number, "status": status,
        "total": { "amount": total, "currencyCode": "USD" },
    })
}

async fn accepted(client: &Client, query: &str, input: Value, field: &str) -> Value {
    let answer = client.gql(query, json!({ "input": input })).await;
    answer.assert_accepted(field);
    answer.data()[field].clone()
}

async fn order_number_and_payment(client: &Client, order: &str) -> (i64, String) {
    let answer = client.gql(ORDER, json!({ "id": order })).await;
    let number = answer.data()["order"]["number"].as_str().and_then(|number| number.parse().ok());
    let number = number.unwrap_or_else(|| panic!("no order number: {}", answer.text));
    let payment = answer.data()["order"]["payments"][0]["id"].as_str().map(str::to_owned).unwrap_or_default();
    (number, payment)
}

/// A shop with TEE ($5.00, no threshold) and a MAIN location.
async fn shop_with_tee(app: &TestApp) -> (Shop, String, String) {
    let shop = app.shop("acme").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    let product = shop.owner.create_product("TEE", "Tee", "5.00").await;
    (shop, product, location)
}

/// Placing, paying (a decline, then a good card), fulfilling, cancelling and refunding (in
/// part, then in full) each write exactly their events, with the documented payloads; every
/// event has its own id, the shop's tenant, its subject and a time.
#[tokio::test]
async fn every_order_payment_and_refund_change_writes_exactly_its_events() {
    let app = TestApp::spawn().await;
    let (shop, tee, main) = shop_with_tee(&app).await;
    let mut outbox = Outbox::open(&app, &shop).await;
    let owner = &shop.owner;

    owner.receive_stock(&tee, &main, 10).await;
    let received = outbox.new_events().await;
    let paid_order = owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await;
    let placed = outbox.new_events().await;
    let declined = accepted_or_declined(owner, &paid_order, "pm_card_visa_chargeDeclined", "k1").await;
    let after_decline = outbox.new_kinds().await;
    let paid = accepted_or_declined(owner, &paid_order, "pm_card_visa", "k2").await;
    let after_payment = outbox.new_events().await;
    accepted(owner, FULFILL, json!({ "orderId": paid_order }), "fulfillOrder").await;
    let fulfilled = outbox.new_events().await;
    let cancelled_order = owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
    outbox.new_events().await;
    accepted(owner, CANCEL, json!({ "orderId": cancelled_order, "reason": "asked" }), "cancelOrder").await;
    let cancelled = outbox.new_events().await;
    let refunded_order = owner.place_order(json!([{ "sku": "TEE", "quantity": 3 }])).await;
    accepted(owner, MARK_PAID, json!({ "orderId": refunded_order, "reference": "bank 1" }), "markOrderPaid").await;
    let marked = outbox.new_kinds().await;
    let (number, payment) = order_number_and_payment(owner, &refunded_order).await;
    let part =
        json!({ "paymentId": payment, "amount": { "amount": "5.00", "currencyCode": "USD" }, "idempotencyKey": "r1" });
    accepted(owner, REFUND, part, "refundPayment").await;
    let partly = outbox.new_events().await;
    accepted(owner, REFUND, json!({ "paymentId": payment, "idempotencyKey": "r2" }), "refundPayment").await;
    let wholly = outbox.new_events().await;

    assert_eq!(declined, "FAILED");
    assert_eq!(paid, "SUCCEEDED");
    assert_eq!(kinds(&received), ["stock.changed"]);
    assert_eq!(payload(&received, "stock.changed"), stock_changed(&tee, &main, [10, 0], "RECEIVED", [10, 0]));
    assert_eq!(kinds(&placed), ["order.placed", "stock.changed"]);
    assert_eq!(payload(&placed, "stock.changed"), stock_changed(&tee, &main, [10, 2], "RESERVED", [0, 2]));
    assert_eq!(payload(&placed, "order.placed"), order_payload(&paid_order, 1001, "PENDING_PAYMENT", "10.00"));
    assert!(placed.iter().any(|e| e.kind == "order.placed" && e.subject.to_string() == uuid_of(&paid_order)));
    assert_eq!(after_decline, ["payment.failed"]);
    assert_eq!(kinds(&after_payment), ["order.paid", "payment.succeeded"]);
    let payment_event = payload(&after_payment, "payment.succeeded");
    assert_eq!((&payment_event["version"], &payment_event["status"]), (&json!(1), &json!("SUCCEEDED")));
    assert_eq!(payment_event["orderId"], uuid_of(&paid_order));
    assert_eq!(payment_event["amount"], json!({ "amount": "10.00", "currencyCode": "USD" }));
    assert_eq!(payload(&after_payment, "order.paid"), order_payload(&paid_order, 1001, "PAID", "10.00"));
    assert_eq!(kinds(&fulfilled), ["order.fulfilled", "stock.changed"]);
    assert_eq!(payload(&fulfilled, "stock.changed"), stock_changed(&tee, &main, [8, 0], "SHIPPED", [-2, -2]));
    assert_eq!(kinds(&cancelled), ["order.cancelled", "stock.changed"]);
    assert_eq!(payload(&cancelled, "stock.changed"), stock_changed(&tee, &main, [8, 0], "RELEASED", [0, -1]));
    assert_eq!(payload(&cancelled, "order.cancelled"), order_payload(&cancelled_order, 1002, "CANCELLED", "5.00"));
    assert_eq!(marked, ["order.paid", "order.placed", "payment.succeeded", "stock.changed"]);
    assert_eq!(kinds(&partly), ["order.partially_refunded", "refund.succeeded"]);
    let refund_event = payload(&partly, "refund.succeeded");
    assert_eq!((&refund_event["version"], &refund_event["orderId"]), (&json!(1), &json!(uuid_of(&refunded_order))));
    assert_eq!((&refund_event["paymentId"], &refund_event["status"]), (&json!(uuid_of(&payment)), &json!("SUCCEEDED")));
    assert_eq!(refund_event["amount"], json!({ "amount": "5.00", "currencyCode": "USD" }));
    assert_eq!(
        payload(&partly, "order.partially_refunded"),
        order_payload(&refunded_order, number, "PARTIALLY_REFUNDED", "15.00")
    );
    assert_eq!(kinds(&wholly), ["order.refunded", "refund.succeeded", "stock.changed"]);
    assert_eq!(payload(&wholly, "refund.succeeded")["amount"]["amount"], "10.00");
    assert_eq!(payload(&wholly, "stock.changed"), stock_changed(&tee, &main, [8, 0], "RELEASED", [0, -3]));

    let all = outbox.all().await;
    let ids: HashSet<Uuid> = all.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), all.len(), "every event has its own id");
    for event in &all {
        assert_eq!(event.tenant, outbox.tenant, "{event:?}");
        assert!(!event.created_at.is_empty(), "{event:?}");
        assert_eq!(event.payload["version"], 1, "every payload carries its version: {event:?}");
    }
}

/// Pays `order` with `method` under `key`; the payment's status.
async fn accepted_or_declined(client: &Client, order: &str, method: &str, key: &str) -> String {
    let answer =
        client.gql(PAY, json!({ "input": { "orderId": order, "paymentMethod": method, "idempotencyKey": key } })).await;
    answer.data()["payOrder"]["payment"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no payment: {}", answer.text))
        .to_owned()
}

/// Receiving, adjusting and transferring write one `stock.changed` per level changed, with the
/// level after the change, its reason and delta: a transfer writes both levels.
#[tokio::test]
async fn stock_operations_write_one_event_per_level_they_change() {
    let app = TestApp::spawn().await;
    let (shop, tee, main) = shop_with_tee(&app).await;
    let backup = shop.owner.create_location("BACKUP", "Backup").await;
    let mut outbox = Outbox::open(&app, &shop).await;

    shop.owner.receive_stock(&tee, &main, 10).await;
    outbox.new_events().await;
    let adjust = json!({ "productId": tee, "locationId": main, "delta": -3, "reason": "ADJUSTED" });
    accepted(&shop.owner, ADJUST, adjust, "adjustStock").await;
    let adjusted = outbox.new_events().await;
    let transfer = json!({ "productId": tee, "fromLocationId": main, "toLocationId": backup, "quantity": 4 });
    accepted(&shop.owner, TRANSFER, transfer, "transferStock").await;
    let transferred = outbox.new_events().await;

    assert_eq!(kinds(&adjusted), ["stock.changed"]);
    assert_eq!(payload(&adjusted, "stock.changed"), stock_changed(&tee, &main, [7, 0], "ADJUSTED", [-3, 0]));
    assert_eq!(adjusted[0].subject.to_string(), uuid_of(&tee), "a stock event is about its product");
    assert_eq!(kinds(&transferred), ["stock.changed", "stock.changed"]);
    let payloads: HashSet<String> = transferred.iter().map(|event| event.payload.to_string()).collect();
    let expected: HashSet<String> = [
        stock_changed(&tee, &main, [3, 0], "TRANSFERRED", [-4, 0]),
        stock_changed(&tee, &backup, [4, 0], "TRANSFERRED", [4, 0]),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    assert_eq!(payloads, expected);
}

/// A `placeOrder` that reserved its first line (in product order) and was refused on its last,
/// and a transfer that put stock at its destination (the lower location id) before its source
/// refused: both roll back, and leave no event.
#[tokio::test]
async fn a_change_that_rolls_back_leaves_no_event() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    // Ids are time-ordered: DEST sorts before SRC, and CAP before MUG.
    let dest = shop.owner.create_location("DEST", "Destination").await;
    let src = shop.owner.create_location("SRC", "Source").await;
    let cap = shop.owner.create_product("CAP", "Cap", "3.00").await;
    let mug = shop.owner.create_product("MUG", "Mug", "4.00").await;
    shop.owner.receive_stock(&cap, &dest, 10).await;
    shop.owner.receive_stock(&mug, &dest, 1).await;
    shop.owner.receive_stock(&cap, &src, 2).await;
    let mut outbox = Outbox::open(&app, &shop).await;
    outbox.new_events().await;

    let lines = json!([{ "sku": "CAP", "quantity": 1 }, { "sku": "MUG", "quantity": 5 }]);
    let refused = shop
        .owner
        .gql(PLACE, json!({ "input": { "lines": lines, "customerEmail": "b@example.test", "locationId": dest } }))
        .await;
    let after_order = outbox.new_kinds().await;
    let transfer = json!({ "productId": cap, "fromLocationId": src, "toLocationId": dest, "quantity": 3 });
    let too_much = shop.owner.gql(TRANSFER, json!({ "input": transfer })).await;
    let after_transfer = outbox.new_kinds().await;

    let errors = refused.user_errors("placeOrder");
    assert_eq!(errors.len(), 1, "{}", refused.text);
    assert_eq!(
        (&errors[0]["code"], &errors[0]["field"]),
        (&json!("INSUFFICIENT_STOCK"), &json!(["lines", "1", "quantity"])),
        "{}",
        refused.text
    );
    assert_eq!(too_much.user_errors("transferStock")[0]["code"], "INSUFFICIENT_STOCK", "{}", too_much.text);
    assert_eq!(after_order, Vec::<String>::new(), "the refused order wrote no event");
    assert_eq!(after_transfer, Vec::<String>::new(), "the refused transfer wrote no event");
    let cap_at_dest = shop.owner.stock_level(&cap, &dest).await;
    assert_eq!(
        (&cap_at_dest["onHand"], &cap_at_dest["reserved"]),
        (&json!(10), &json!(0)),
        "nothing stayed reserved or moved"
    );
}

/// `stock.low` fires when a change takes a location's available units from at or above the
/// product's threshold to below it, once: not again while it stays below, again after it climbed
/// back; never without a threshold. The threshold is set and cleared through the API.
#[tokio::test]
async fn stock_low_fires_once_per_crossing_of_the_threshold() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let main = shop.owner.create_location("MAIN", "Main").await;
    let new_product = |threshold: Value| json!({ "sku": "TEE", "name": "Tee", "price": { "amount": "5.00", "currencyCode": "USD" }, "lowStockThreshold": threshold });
    let negative = shop.owner.gql(CREATE_PRODUCT, json!({ "input": new_product(json!(-1)) })).await;
    let created = accepted(&shop.owner, CREATE_PRODUCT, new_product(json!(5)), "createProduct").await;
    let tee = created["product"]["id"].as_str().expect("a product id").to_owned();
    let mut outbox = Outbox::open(&app, &shop).await;
    let adjust = |delta: i64| json!({ "productId": tee, "locationId": main, "delta": delta, "reason": "ADJUSTED" });

    shop.owner.receive_stock(&tee, &main, 10).await;
    let rising = outbox.new_kinds().await;
    shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 4 }])).await;
    let to_six = outbox.new_kinds().await;
    shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await;
    let crossing = outbox.new_events().await;
    accepted(&shop.owner, ADJUST, adjust(-1), "adjustStock").await;
    let still_below = outbox.new_kinds().await;
    accepted(&shop.owner, ADJUST, adjust(2), "adjustStock").await;
    let back_to_five = outbox.new_kinds().await;
    accepted(&shop.owner, ADJUST, adjust(-1), "adjustStock").await;
    let again = outbox.new_kinds().await;
    let cleared = accepted(
        &shop.owner,
        UPDATE_PRODUCT,
        json!({ "id": tee, "expectedVersion": 1, "lowStockThreshold": null }),
        "updateProduct",
    )
    .await;
    accepted(&shop.owner, ADJUST, adjust(5), "adjustStock").await;
    accepted(&shop.owner, ADJUST, adjust(-5), "adjustStock").await;
    let without_threshold = outbox.new_kinds().await;

    assert_eq!(negative.user_errors("createProduct")[0]["field"], json!(["lowStockThreshold"]), "{}", negative.text);
    assert_eq!(created["product"]["lowStockThreshold"], 5);
    assert_eq!(rising, ["stock.changed"]);
    assert_eq!(to_six, ["order.placed", "stock.changed"], "6 available is not below 5");
    assert_eq!(kinds(&crossing), ["order.placed", "stock.changed", "stock.low"]);
    assert_eq!(
        payload(&crossing, "stock.low"),
        json!({ "version": 1, "productId": uuid_of(&tee), "locationId": uuid_of(&main),
                "onHand": 10, "reserved": 6, "available": 4, "lowStockThreshold": 5 })
    );
    assert_eq!(still_below, ["stock.changed"], "already below: no second alert");
    assert_eq!(back_to_five, ["stock.changed"]);
    assert_eq!(again, ["stock.changed", "stock.low"], "it climbed back to 5, then fell below again");
    assert_eq!(cleared["product"]["lowStockThreshold"], Value::Null);
    assert_eq!(without_threshold, ["stock.changed", "stock.changed"]);
}
