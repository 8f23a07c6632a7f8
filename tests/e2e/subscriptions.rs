//! GraphQL subscriptions over WebSocket at `/graphql/ws` (graphql-transport-ws), spoken with a
//! real WebSocket client: order events of the subscriber's shop and of no other, the close codes
//! a client acts on (`4403` for a missing, forged, expired or revoked credential, before any data
//! or when a session ends mid-subscription; `4406` for a client without the subprotocol), and
//! events committed through one server process reaching a subscriber of another.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_tests::{Client, PASSWORD, Shop, TestApp};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest a test waits for one message: the feed reads every 250 ms and sessions are
/// checked every 5 s, so this is generous.
const DEADLINE: Duration = Duration::from_secs(30);
const ORDER_EVENTS: &str = "subscription { orderEvents { type orderId number status occurredAt } }";
const MARK_PAID: &str = "mutation($input: MarkOrderPaidInput!) { markOrderPaid(input: $input) {
    order { status } userErrors { field code message } } }";

/// What the server sent next.
#[derive(Debug, PartialEq)]
enum Incoming {
    /// A graphql-transport-ws message.
    Message(Value),
    /// A close frame with its code.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Ended,
}

/// One graphql-transport-ws client connection.
struct Socket(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Socket {
    /// Opens `/graphql/ws` offering `protocols` (none when empty).
    async fn open(app: &TestApp, protocols: &[&str]) -> Result<Socket, tungstenite::Error> {
        let mut request = format!("ws://{}/graphql/ws", app.address).into_client_request().expect("a request");
        if !protocols.is_empty() {
            request.headers_mut().insert("sec-websocket-protocol", protocols.join(", ").parse().expect("a header"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Socket(stream))
    }

    /// Opens a graphql-transport-ws connection and sends `connection_init` with `payload`.
    async fn init(app: &TestApp, payload: Value) -> Socket {
        let mut socket = Socket::open(app, &["graphql-transport-ws"]).await.expect("the upgrade is accepted");
        socket.send(json!({ "type": "connection_init", "payload": payload })).await;
        socket
    }

    /// A connection initialised with `Authorization: Bearer <credential>` and acknowledged.
    async fn authenticated(app: &TestApp, credential: &str) -> Socket {
        let mut socket = Socket::init(app, json!({ "Authorization": format!("Bearer {credential}") })).await;
        let ack = socket.next().await;
        assert_eq!(ack, Incoming::Message(json!({ "type": "connection_ack" })), "no ack");
        socket
    }

    async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        self.0.send(Message::text(message.to_string())).await.expect("sent");
    }

    /// Starts operation `id`.
    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
    }

    /// The next message, close or end; pings are answered, pongs skipped.
    async fn next(&mut self) -> Incoming {
        use futures_util::{SinkExt, StreamExt};
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.0.next()).await.expect("a message within the deadline");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).expect("JSON");
                    if message["type"] == "ping" {
                        self.0.send(Message::text(json!({ "type": "pong" }).to_string())).await.expect("pong");
                        continue;
                    }
                    if message["type"] == "pong" {
                        continue;
                    }
                    return Incoming::Message(message);
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Incoming::Closed(u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return Incoming::Ended,
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("the connection failed: {err}"),
            }
        }
    }

    /// The next `next` message of operation `id`: its `data`.
    async fn next_data(&mut self, id: &str) -> Value {
        let incoming = self.next().await;
        let Incoming::Message(message) = &incoming else { panic!("expected a message, got {incoming:?}") };
        assert_eq!((&message["type"], &message["id"]), (&json!("next"), &json!(id)), "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"].clone()
    }

    /// The close code, which must come before any other message.
    async fn close_code(&mut self) -> u16 {
        match self.next().await {
            Incoming::Closed(code, _) => code,
            other => panic!("expected the socket to close, got {other:?}"),
        }
    }
}

/// A shop `slug` with a product `TEE` stocked at one location.
async fn stocked_shop(app: &TestApp, slug: &str) -> Shop {
    let shop = app.shop(slug).await;
    let product = shop.owner.create_product("TEE", "Tee", "10.00").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    shop.owner.receive_stock(&product, &location, 100).await;
    shop
}

/// The owner's access token, read from the client that holds it.
async fn owner_token(app: &TestApp, shop: &Shop) -> String {
    app.anonymous().sign_in(&shop.slug, &format!("owner@{}.test", shop.slug), PASSWORD).await
}

async fn place(client: &Client) -> String {
    client.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await
}

async fn mark_paid(client: &Client, order: &str) {
    let marked = client.gql(MARK_PAID, json!({ "input": { "orderId": order, "reference": "cash" } })).await;
    marked.assert_accepted("markOrderPaid");
}

#[tokio::test]
async fn a_subscriber_gets_its_shops_order_events_in_order_and_nothing_of_another_shop() {
    let app = TestApp::spawn().await;
    let acme = stocked_shop(&app, "acme").await;
    let globex = stocked_shop(&app, "globex").await;
    let mut acme_socket = Socket::authenticated(&app, &owner_token(&app, &acme).await).await;
    acme_socket.subscribe("1", ORDER_EVENTS).await;
    let mut globex_socket = Socket::authenticated(&app, &owner_token(&app, &globex).await).await;
    globex_socket.subscribe("g", ORDER_EVENTS).await;

    let order = place(&acme.owner).await;
    mark_paid(&acme.owner, &order).await;

    let placed = acme_socket.next_data("1").await;
    assert_eq!(
        (&placed["orderEvents"]["type"], &placed["orderEvents"]["orderId"], &placed["orderEvents"]["status"]),
        (&json!("order.placed"), &json!(order), &json!("PENDING_PAYMENT")),
        "{placed}"
    );
    assert_eq!(placed["orderEvents"]["number"], json!("1001"), "{placed}");
    assert!(placed["orderEvents"]["occurredAt"].is_string(), "{placed}");
    let paid = acme_socket.next_data("1").await;
    assert_eq!(
        (&paid["orderEvents"]["type"], &paid["orderEvents"]["orderId"], &paid["orderEvents"]["status"]),
        (&json!("order.paid"), &json!(order), &json!("PAID")),
        "{paid}"
    );

    // Acme's events reached acme's subscriber; globex's subscriber, open all along, must see its
    // own shop's order first: nothing of acme's came before it.
    let own = place(&globex.owner).await;
    let first = globex_socket.next_data("g").await;
    assert_eq!(
        (&first["orderEvents"]["type"], &first["orderEvents"]["orderId"]),
        (&json!("order.placed"), &json!(own)),
        "{first}"
    );
}

/// `stockEvents` streams the outbox's `stock.changed` rows of the subscriber's shop with their
/// product, location and payload.
#[tokio::test]
async fn a_subscriber_gets_its_shops_stock_changes_with_product_and_location() {
    let app = TestApp::spawn().await;
    let acme = app.shop("acme").await;
    let product = acme.owner.create_product("TEE", "Tee", "10.00").await;
    let location = acme.owner.create_location("MAIN", "Main").await;
    let mut socket = Socket::authenticated(&app, &owner_token(&app, &acme).await).await;
    socket.subscribe("s", "subscription { stockEvents { type productId locationId payload occurredAt } }").await;

    acme.owner.receive_stock(&product, &location, 7).await;

    let changed = socket.next_data("s").await;
    let event = &changed["stockEvents"];
    assert_eq!(
        (&event["type"], &event["productId"], &event["locationId"]),
        (&json!("stock.changed"), &json!(product), &json!(location)),
        "{changed}"
    );
    let payload: serde_json::Value =
        serde_json::from_str(event["payload"].as_str().expect("the payload is JSON text")).expect("JSON");
    assert_eq!((&payload["onHand"], &payload["reason"]), (&json!(7), &json!("RECEIVED")), "{payload}");
}

#[tokio::test]
async fn an_api_key_subscribes_with_its_permissions_and_no_further() {
    let app = TestApp::spawn().await;
    let acme = stocked_shop(&app, "acme").await;
    let reader = acme.api_key(&["ORDERS_READ"]).await;
    let mut socket = Socket::authenticated(&app, &reader.secret).await;

    socket.subscribe("stock", "subscription { stockEvents { type productId locationId payload } }").await;
    let refused = socket.next().await;
    let Incoming::Message(refused) = refused else { panic!("expected an answer, got {refused:?}") };
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], json!("FORBIDDEN"), "{refused}");
    assert_eq!(socket.next().await, Incoming::Message(json!({ "id": "stock", "type": "complete" })));

    socket.subscribe("orders", ORDER_EVENTS).await;
    let order = place(&acme.owner).await;
    let placed = socket.next_data("orders").await;
    assert_eq!(placed["orderEvents"]["orderId"], json!(order), "{placed}");
}

#[tokio::test]
async fn no_forged_or_expired_credential_gets_past_connection_init() {
    let app = TestApp::spawn().await;
    let acme = stocked_shop(&app, "acme").await;
    let token = owner_token(&app, &acme).await;
    let mut segments = token.split('.');
    let decode = |segment: Option<&str>| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment.expect("a segment")).expect("base64")).expect("JSON")
    };
    let (header, mut claims) = (decode(segments.next()), decode(segments.next()));
    claims["exp"] = json!(claims["iat"].as_i64().expect("iat") - 60);
    let expired = jsonwebtoken::encode(
        &Header { kid: header["kid"].as_str().map(str::to_owned), ..Header::new(Algorithm::HS256) },
        &claims,
        &EncodingKey::from_secret(api::config::DEVELOPMENT_JWT_SECRET.as_bytes()),
    )
    .expect("signs");
    let forged = format!("{}x", &token[..token.len() - 1]);

    let payloads = [
        ("no payload", Value::Null),
        ("no Authorization", json!({})),
        ("a forged token", json!({ "Authorization": format!("Bearer {forged}") })),
        ("an expired token", json!({ "authorization": format!("Bearer {expired}") })),
        ("an unknown API key", json!({ "Authorization": "Bearer keel_sk_nope" })),
        ("no bearer scheme", json!({ "Authorization": token })),
    ];
    for (what, payload) in payloads {
        let mut socket = Socket::init(&app, payload).await;
        // Subscribing at once: the refusal must still come before any data.
        socket.subscribe("1", ORDER_EVENTS).await;
        assert_eq!(socket.close_code().await, 4403, "{what}");
    }

    // The lowercase key is accepted as the issue asks; a valid credential is acknowledged.
    let mut socket = Socket::init(&app, json!({ "authorization": format!("Bearer {token}") })).await;
    assert_eq!(socket.next().await, Incoming::Message(json!({ "type": "connection_ack" })));
}

#[tokio::test]
async fn only_the_graphql_transport_ws_subprotocol_is_served() {
    let app = TestApp::spawn().await;

    // The legacy protocol is not accepted: the server answers with no subprotocol, which a
    // client that asked for one must refuse.
    let legacy = Socket::open(&app, &["graphql-ws"]).await;
    assert!(
        matches!(
            legacy,
            Err(tungstenite::Error::Protocol(tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_)))
        ),
        "the legacy subprotocol was accepted: {:?}",
        legacy.map(|_| ())
    );
    // A client that offers none is told why, with 4406.
    let mut none = Socket::open(&app, &[]).await.expect("the upgrade completes");
    assert_eq!(none.close_code().await, 4406);
    // Subscribing before `connection_init` is the protocol's 4401.
    let mut early = Socket::open(&app, &["graphql-transport-ws"]).await.expect("the upgrade completes");
    early.subscribe("1", ORDER_EVENTS).await;
    assert_eq!(early.close_code().await, 4401);
    // Offering both gets the current one.
    let mut both = Socket::open(&app, &["graphql-ws", "graphql-transport-ws"]).await.expect("the upgrade completes");
    both.send(json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(both.close_code().await, 4403, "no credential");
}

#[tokio::test]
async fn signing_out_ends_a_running_subscription_with_4403() {
    let app = TestApp::spawn().await;
    let acme = stocked_shop(&app, "acme").await;
    let login = app.anonymous().login("acme", "owner@acme.test", PASSWORD).await;
    let token = login.expect_str("/data/login/accessToken");
    let refresh = login.expect_str("/data/login/refreshToken");
    let mut socket = Socket::authenticated(&app, &token).await;
    socket.subscribe("1", ORDER_EVENTS).await;
    let order = place(&acme.owner).await;
    assert_eq!(socket.next_data("1").await["orderEvents"]["orderId"], json!(order));

    let logout = app
        .with_bearer(&token)
        .gql(
            "mutation($input: LogoutInput!) { logout(input: $input) { userErrors { code message } } }",
            json!({ "input": { "refreshToken": refresh } }),
        )
        .await;
    logout.assert_accepted("logout");

    assert_eq!(socket.close_code().await, 4403);
}

#[tokio::test]
async fn a_role_change_ends_a_running_subscription_with_4403() {
    let app = TestApp::spawn().await;
    let acme = stocked_shop(&app, "acme").await;
    let (_, staff_id) = acme.member("STAFF", "staff@acme.test").await;
    let token = app.anonymous().sign_in("acme", "staff@acme.test", PASSWORD).await;
    let mut socket = Socket::authenticated(&app, &token).await;
    socket.subscribe("1", ORDER_EVENTS).await;
    let order = place(&acme.owner).await;
    assert_eq!(socket.next_data("1").await["orderEvents"]["orderId"], json!(order));

    let changed = acme
        .owner
        .gql(
            "mutation($input: ChangeRoleInput!) { changeRole(input: $input) { userErrors { code message } } }",
            json!({ "input": { "memberId": staff_id, "role": "CUSTOMER" } }),
        )
        .await;
    changed.assert_accepted("changeRole");

    // A customer may read only their own orders: the shop-wide subscription must not go on.
    assert_eq!(socket.close_code().await, 4403);
}

#[tokio::test]
async fn an_access_token_expiring_ends_a_running_subscription_with_4403() {
    let app = TestApp::spawn_with(keel_tests::TestDatabase::create().await, &["--access-token-ttl", "2"]).await;
    let acme = app.shop("acme").await;
    let token = owner_token(&app, &acme).await;
    let mut socket = Socket::authenticated(&app, &token).await;
    socket.subscribe("1", ORDER_EVENTS).await;

    let closed = socket.next().await;
    let Incoming::Closed(code, reason) = &closed else { panic!("expected the socket to close, got {closed:?}") };
    assert_eq!(*code, 4403, "{reason}");
    assert!(reason.contains("access token expired"), "{reason}");
}

#[tokio::test]
async fn an_event_committed_through_one_process_reaches_a_subscriber_of_another() {
    let first = TestApp::spawn().await;
    let second = first.spawn_beside(&[]).await;
    let acme = stocked_shop(&first, "acme").await;
    let mut socket = Socket::authenticated(&second, &owner_token(&second, &acme).await).await;
    socket.subscribe("1", ORDER_EVENTS).await;

    let order = place(&acme.owner).await;

    let placed = socket.next_data("1").await;
    assert_eq!(
        (&placed["orderEvents"]["type"], &placed["orderEvents"]["orderId"]),
        (&json!("order.placed"), &json!(order)),
        "{placed}"
    );
}
