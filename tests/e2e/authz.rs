//! Authorization that compares powers: no caller, member or API key, grants, changes or takes
//! away more than it holds itself.

use keel_tests::{Client, GqlResponse, Outside, PASSWORD, Shop, TestApp, TestDatabase, global_id, unknown_id};
use serde_json::{Value, json};

const CREATE_MEMBER: &str = "mutation($email: String!, $role: Role!) {
    createMember(input: { email: $email, password: \"correct horse battery\", role: $role }) {
        member { id role } userErrors { field code message } } }";
const CHANGE_ROLE: &str = "mutation($id: ID!, $role: Role!) {
    changeRole(input: { memberId: $id, role: $role }) { member { role } userErrors { field code message } } }";
const DEACTIVATE: &str = "mutation($id: ID!) {
    deactivateMember(input: { memberId: $id }) { member { status } userErrors { field code message } } }";

/// Every permission a CUSTOMER holds, as the schema names them.
const CUSTOMER_PERMISSIONS: [&str; 5] =
    ["PROFILE_READ", "CATALOG_READ", "ORDERS_READ", "ORDERS_WRITE", "PAYMENTS_WRITE"];

/// The `(field, code)` of each of `field`'s user errors.
fn refusals(response: &GqlResponse, field: &str) -> Vec<(Value, Value)> {
    response.user_errors(field).iter().map(|e| (e["field"].clone(), e["code"].clone())).collect()
}

fn not_held(field: &str) -> Vec<(Value, Value)> {
    vec![(json!([field]), json!("PERMISSION_NOT_HELD"))]
}

async fn create_member(caller: &Client, email: &str, role: &str) -> GqlResponse {
    caller.gql(CREATE_MEMBER, json!({ "email": email, "role": role })).await
}

/// The roles `caller` managed to create, out of every role but OWNER.
async fn creatable_roles(shop: &Shop, caller: &Client, label: &str) -> Vec<&'static str> {
    let mut created = Vec::new();
    for role in ["ADMIN", "STAFF", "CUSTOMER"] {
        let email = format!("{}-{label}@{}.test", role.to_lowercase(), shop.slug);
        let answer = create_member(caller, &email, role).await;
        if answer.data()["createMember"]["member"]["role"] == role {
            created.push(role);
        } else {
            assert_eq!(refusals(&answer, "createMember"), not_held("role"), "{label} creating {role}: {}", answer.text);
        }
    }
    created
}

#[tokio::test]
async fn a_key_that_may_only_manage_members_cannot_create_an_admin_and_take_over_the_shop() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let key = shop.api_key(&["MEMBERS_MANAGE"]).await.client;

    let admin = create_member(&key, "mallory@acme.test", "ADMIN").await;
    let login = app.anonymous().login("acme", "mallory@acme.test", "correct horse battery").await;

    assert_eq!(refusals(&admin, "createMember"), not_held("role"), "{}", admin.text);
    assert_eq!(admin.data()["createMember"]["member"], Value::Null);
    let message = admin.user_errors("createMember")[0]["message"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(
        message.contains("api_keys:manage") && message.contains("payments:refund"),
        "names what is missing: {message}"
    );
    assert_eq!(login.user_error_codes("login"), ["INVALID_CREDENTIALS"], "no such member was created");
    let members = shop.owner.gql("{ members { edges { node { email } } } }", json!({})).await;
    assert_eq!(members.node_strings("members", "email"), ["owner@acme.test"]);
}

#[tokio::test]
async fn a_role_can_be_given_only_by_a_caller_holding_every_permission_of_it() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let members_only = shop.api_key(&["MEMBERS_MANAGE"]).await.client;
    let catalog_reader = shop.api_key(&["MEMBERS_MANAGE", "CATALOG_READ"]).await.client;
    let customer_maker = shop.api_key(&[&["MEMBERS_MANAGE"][..], &CUSTOMER_PERMISSIONS].concat()).await.client;
    let (admin, _) = shop.member("ADMIN", "admin@acme.test").await;

    let by_members_only = creatable_roles(&shop, &members_only, "members-only").await;
    let by_catalog_reader = creatable_roles(&shop, &catalog_reader, "catalog-reader").await;
    let by_customer_maker = creatable_roles(&shop, &customer_maker, "customer-maker").await;
    let by_admin = creatable_roles(&shop, &admin, "admin").await;

    assert_eq!(by_members_only, Vec::<&str>::new());
    assert_eq!(by_catalog_reader, Vec::<&str>::new(), "a CUSTOMER also orders and pays");
    assert_eq!(by_customer_maker, ["CUSTOMER"]);
    assert_eq!(by_admin, ["ADMIN", "STAFF", "CUSTOMER"]);
}

#[tokio::test]
async fn only_owners_make_owners_however_many_permissions_the_caller_holds() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let every_permission = [
        "PROFILE_READ",
        "MEMBERS_READ",
        "MEMBERS_MANAGE",
        "API_KEYS_MANAGE",
        "AUDIT_READ",
        "CATALOG_READ",
        "CATALOG_WRITE",
        "INVENTORY_READ",
        "INVENTORY_WRITE",
        "ORDERS_READ",
        "ORDERS_WRITE",
        "ORDERS_MANAGE",
        "PAYMENTS_WRITE",
        "PAYMENTS_REFUND",
        "PAYMENTS_MANAGE",
        "WEBHOOKS_MANAGE",
    ];
    let key = shop.api_key(&every_permission).await.client;
    let (admin, _) = shop.member("ADMIN", "admin@acme.test").await;

    let by_key = create_member(&key, "o2@acme.test", "OWNER").await;
    let by_admin = create_member(&admin, "o3@acme.test", "OWNER").await;
    let by_owner = create_member(&shop.owner, "o4@acme.test", "OWNER").await;
    let admin_by_key = create_member(&key, "a2@acme.test", "ADMIN").await;

    assert_eq!(by_key.error_code(), Some("FORBIDDEN"), "{}", by_key.text);
    assert_eq!(by_admin.error_code(), Some("FORBIDDEN"), "{}", by_admin.text);
    assert_eq!(by_owner.data()["createMember"]["member"]["role"], "OWNER", "{}", by_owner.text);
    assert_eq!(admin_by_key.data()["createMember"]["member"]["role"], "ADMIN", "{}", admin_by_key.text);
}

#[tokio::test]
async fn a_key_cannot_raise_a_member_beyond_itself_nor_demote_one_above_it() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let key = shop.api_key(&[&["MEMBERS_MANAGE"][..], &CUSTOMER_PERMISSIONS].concat()).await.client;
    let (_, customer) = shop.member("CUSTOMER", "customer@acme.test").await;
    let (_, staff) = shop.member("STAFF", "staff@acme.test").await;

    let promote = key.gql(CHANGE_ROLE, json!({ "id": customer, "role": "STAFF" })).await;
    let demote = key.gql(CHANGE_ROLE, json!({ "id": staff, "role": "CUSTOMER" })).await;
    let same = key.gql(CHANGE_ROLE, json!({ "id": customer, "role": "CUSTOMER" })).await;

    assert_eq!(refusals(&promote, "changeRole"), not_held("role"), "{}", promote.text);
    assert_eq!(refusals(&demote, "changeRole"), not_held("memberId"), "{}", demote.text);
    assert_eq!(same.data()["changeRole"]["member"]["role"], "CUSTOMER", "{}", same.text);
    let roles = shop.owner.gql("{ members { edges { node { email role } } } }", json!({})).await;
    assert_eq!(
        roles.nodes("members"),
        [
            json!({ "email": "owner@acme.test", "role": "OWNER" }),
            json!({ "email": "customer@acme.test", "role": "CUSTOMER" }),
            json!({ "email": "staff@acme.test", "role": "STAFF" }),
        ]
    );
}

#[tokio::test]
async fn a_key_cannot_deactivate_a_member_holding_more_than_it_does() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let key = shop.api_key(&[&["MEMBERS_MANAGE"][..], &CUSTOMER_PERMISSIONS].concat()).await.client;
    let (_, admin) = shop.member("ADMIN", "admin@acme.test").await;
    let (_, customer) = shop.member("CUSTOMER", "customer@acme.test").await;

    let admin_answer = key.gql(DEACTIVATE, json!({ "id": admin })).await;
    let customer_answer = key.gql(DEACTIVATE, json!({ "id": customer })).await;

    assert_eq!(refusals(&admin_answer, "deactivateMember"), not_held("memberId"), "{}", admin_answer.text);
    assert_eq!(
        customer_answer.data()["deactivateMember"]["member"]["status"],
        "DEACTIVATED",
        "{}",
        customer_answer.text
    );
    let admin_login = app.anonymous().login("acme", "admin@acme.test", PASSWORD).await;
    assert!(
        admin_login.data()["login"]["accessToken"].is_string(),
        "the admin can still sign in: {}",
        admin_login.text
    );
}

#[tokio::test]
async fn a_key_can_neither_issue_nor_revoke_a_key_holding_more_than_it_does() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let key_manager = shop.api_key(&["API_KEYS_MANAGE", "CATALOG_READ"]).await.client;
    let powerful = shop.api_key(&["CATALOG_READ", "PAYMENTS_REFUND"]).await;
    let modest = shop.api_key(&["CATALOG_READ"]).await;
    let create = "mutation($permissions: [Permission!]!) {
        createApiKey(input: { name: \"k\", permissions: $permissions }) { secret userErrors { field code } } }";
    let revoke = "mutation($id: ID!) {
        revokeApiKey(input: { apiKeyId: $id }) { apiKey { active } userErrors { field code } } }";

    let issued_more = key_manager.gql(create, json!({ "permissions": ["CATALOG_READ", "MEMBERS_MANAGE"] })).await;
    let issued_same = key_manager.gql(create, json!({ "permissions": ["CATALOG_READ"] })).await;
    let revoked_powerful = key_manager.gql(revoke, json!({ "id": powerful.id })).await;
    let revoked_modest = key_manager.gql(revoke, json!({ "id": modest.id })).await;

    assert_eq!(refusals(&issued_more, "createApiKey"), not_held("permissions"), "{}", issued_more.text);
    assert_eq!(issued_more.data()["createApiKey"]["secret"], Value::Null);
    assert!(issued_same.data()["createApiKey"]["secret"].is_string(), "{}", issued_same.text);
    assert_eq!(refusals(&revoked_powerful, "revokeApiKey"), not_held("apiKeyId"), "{}", revoked_powerful.text);
    assert_eq!(revoked_modest.data()["revokeApiKey"]["apiKey"]["active"], false, "{}", revoked_modest.text);
    let still_works = powerful.client.gql("{ products(first: 1) { edges { cursor } } }", json!({})).await;
    assert!(still_works.errors().is_empty(), "the powerful key still works: {}", still_works.text);
}

/// Runs one statement on `database` from outside Keel, as an operator's mistake or a failing
/// disk would change it under a running server.
async fn alter_outside(database: &TestDatabase, statement: String) {
    let mut conn = Outside::connect(database).await;
    conn.execute(&statement).await;
    conn.close().await;
}

const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";

#[tokio::test]
async fn node_is_null_only_for_what_it_cannot_show_and_an_error_when_storage_fails() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    // Member tokens are checked against `users`, so members are looked up with a key.
    let members_reader = shop.api_key(&["MEMBERS_READ"]).await.client;
    let (_, member) = shop.member("STAFF", "staff@acme.test").await;
    let key = shop.api_key(&["CATALOG_READ"]).await.id;
    let product = shop.owner.create_product("TEE", "Tee", "1.00").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    shop.owner.receive_stock(&product, &location, 3).await;
    let level = shop
        .owner
        .gql(
            "query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { id } }",
            json!({ "p": product, "l": location }),
        )
        .await
        .expect_str("/data/stockLevel/id");
    let order = shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 1 }])).await;
    let unknown_level =
        global_id("StockLevel", &format!("{}:{}", uuid::Uuid::now_v7().simple(), uuid::Uuid::now_v7().simple()));
    // (table read, caller, an id of a row in it, an id of nothing)
    let rows = [
        ("users", &members_reader, &member, unknown_id("Member")),
        ("api_keys", &shop.owner, &key, unknown_id("ApiKey")),
        ("products", &shop.owner, &product, unknown_id("Product")),
        ("locations", &shop.owner, &location, unknown_id("Location")),
        ("stock_levels", &shop.owner, &level, unknown_level),
        ("orders", &shop.owner, &order, unknown_id("Order")),
    ];

    for (table, caller, id, unknown) in rows {
        let nothing = caller.gql(NODE, json!({ "id": unknown })).await;
        alter_outside(app.database(), format!("ALTER TABLE {table} RENAME TO {table}_away")).await;
        let broken = caller.gql(NODE, json!({ "id": id })).await;
        alter_outside(app.database(), format!("ALTER TABLE {table}_away RENAME TO {table}")).await;
        let repaired = caller.gql(NODE, json!({ "id": id })).await;

        assert_eq!(
            (nothing.data()["node"].clone(), nothing.errors()),
            (Value::Null, vec![]),
            "{table}: {}",
            nothing.text
        );
        assert_eq!(
            broken.error_code(),
            Some("INTERNAL"),
            "{table}: a failed read is not a missing row: {}",
            broken.text
        );
        assert_eq!(broken.data()["node"], Value::Null, "{table}");
        assert_eq!(repaired.data()["node"]["id"], json!(id), "{table}: {}", repaired.text);
    }
    let anonymous = app.anonymous().gql(NODE, json!({ "id": product })).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"), "{}", anonymous.text);
}

const PLACE_ORDER: &str = "mutation($input: PlaceOrderInput!) {
    placeOrder(input: $input) { order { id } userErrors { field code message } } }";

/// `placeOrder` of one unit of one line (`{ "sku": … }` or `{ "productId": … }`).
async fn order_one(caller: &Client, mut line: Value) -> GqlResponse {
    line["quantity"] = json!(1);
    caller.gql(PLACE_ORDER, json!({ "input": { "lines": [line], "customerEmail": "buyer@acme.test" } })).await
}

#[tokio::test]
async fn to_a_customer_an_archived_product_is_unknown_and_to_staff_it_is_inactive() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    let archived = shop.owner.create_product("OLD-1", "Old", "1.00").await;
    shop.owner.receive_stock(&archived, &location, 5).await;
    shop.owner
        .gql(
            "mutation($id: ID!) { archiveProduct(input: { id: $id, expectedVersion: 1 }) { product { active } } }",
            json!({ "id": archived }),
        )
        .await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;
    let (staff, _) = shop.member("STAFF", "staff@acme.test").await;

    let by_sku = order_one(&customer, json!({ "sku": "OLD-1" })).await;
    let unknown_sku = order_one(&customer, json!({ "sku": "NEVER-1" })).await;
    let by_id = order_one(&customer, json!({ "productId": archived })).await;
    let unknown_by_id = order_one(&customer, json!({ "productId": unknown_id("Product") })).await;
    let staff_by_sku = order_one(&staff, json!({ "sku": "OLD-1" })).await;
    let owner_by_id = order_one(&shop.owner, json!({ "productId": archived })).await;

    assert_eq!(by_sku.data(), unknown_sku.data(), "a customer tells an archived SKU from an unknown one");
    assert_eq!(refusals(&by_sku, "placeOrder"), [(json!(["lines", "0", "sku"]), json!("UNKNOWN_PRODUCT"))]);
    assert_eq!(by_id.data(), unknown_by_id.data(), "a customer tells an archived id from an unknown one");
    assert_eq!(refusals(&by_id, "placeOrder"), [(json!(["lines", "0", "productId"]), json!("UNKNOWN_PRODUCT"))]);
    assert_eq!(refusals(&staff_by_sku, "placeOrder"), [(json!(["lines", "0", "sku"]), json!("PRODUCT_INACTIVE"))]);
    assert_eq!(refusals(&owner_by_id, "placeOrder"), [(json!(["lines", "0", "productId"]), json!("PRODUCT_INACTIVE"))]);
    assert_eq!(shop.owner.stock_level(&archived, &location).await["reserved"], 0);
}

const CANCEL_SHOWING: &str = "mutation($id: ID!) {
    cancelOrder(input: { orderId: $id }) { order { status customerEmail lines { sku quantity } } userErrors { code } } }";

#[tokio::test]
async fn changing_an_order_shows_it_only_to_callers_who_may_read_orders() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let location = shop.owner.create_location("MAIN", "Main").await;
    let tee = shop.owner.create_product("TEE", "Tee", "10.00").await;
    shop.owner.receive_stock(&tee, &location, 10).await;
    let mut orders = Vec::new();
    for _ in 0..4 {
        orders.push(shop.owner.place_order(json!([{ "sku": "TEE", "quantity": 2 }])).await);
    }
    let writer = shop.api_key(&["ORDERS_WRITE"]).await.client;
    let manager = shop.api_key(&["ORDERS_MANAGE"]).await.client;
    let reader_writer = shop.api_key(&["ORDERS_READ", "ORDERS_WRITE"]).await.client;
    let mark_paid = "mutation($id: ID!) {
        markOrderPaid(input: { orderId: $id }) { orderId order { customerEmail } userErrors { code } } }";
    let cancel_id =
        "mutation($id: ID!) { cancelOrder(input: { orderId: $id }) { orderId order { id } userErrors { code } } }";

    let blind = writer.gql(CANCEL_SHOWING, json!({ "id": orders[0] })).await;
    let blind_id = writer.gql(cancel_id, json!({ "id": orders[1] })).await;
    let paid_blind = manager.gql(mark_paid, json!({ "id": orders[2] })).await;
    let seeing = reader_writer.gql(CANCEL_SHOWING, json!({ "id": orders[3] })).await;

    assert_eq!(blind.data()["cancelOrder"], json!({ "order": null, "userErrors": [] }), "{}", blind.text);
    assert_eq!(
        blind_id.data()["cancelOrder"],
        json!({ "orderId": orders[1], "order": null, "userErrors": [] }),
        "the change is confirmed by id: {}",
        blind_id.text
    );
    assert_eq!(
        paid_blind.data()["markOrderPaid"],
        json!({ "orderId": orders[2], "order": null, "userErrors": [] }),
        "{}",
        paid_blind.text
    );
    assert_eq!(
        seeing.data()["cancelOrder"]["order"],
        json!({ "status": "CANCELLED", "customerEmail": "buyer@example.test", "lines": [{ "sku": "TEE", "quantity": 2 }] })
    );
    let statuses = shop.owner.gql("{ orders(first: 10) { edges { node { status } } } }", json!({})).await;
    assert_eq!(statuses.node_strings("orders", "status"), ["CANCELLED", "PAID", "CANCELLED", "CANCELLED"]);
    assert_eq!(shop.owner.stock_level(&tee, &location).await["reserved"], 2, "the paid order keeps its units");
}
