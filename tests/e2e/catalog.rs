//! The catalog as clients meet it: money in each currency's exponent, products with optimistic
//! versions, locations, filters, sort orders paged both ways by keyset, permissions, what
//! customers may see of stock, and bad input that is reported field by field and writes nothing.

use keel_tests::{GqlResponse, TestApp};
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) {
    product { id sku name price { amount currencyCode } active version } userErrors { field code message } } }";
const UPDATE: &str = "mutation($input: UpdateProductInput!) { updateProduct(input: $input) {
    product { name version price { amount } } userErrors { field code } } }";

fn product(sku: &str, amount: &str, currency: &str) -> Value {
    json!({ "input": { "sku": sku, "name": format!("Product {sku}"), "price": { "amount": amount, "currencyCode": currency } } })
}

/// `(field path joined by '.', code)` of each user error of `field`.
fn errors_of(response: &GqlResponse, field: &str) -> Vec<(String, String)> {
    let codes = response.user_error_codes(field);
    let paths = response.user_errors(field).into_iter().map(|e| {
        let path = e["field"].as_array().unwrap_or_else(|| panic!("a user error without a field: {}", response.text));
        path.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(".")
    });
    paths.zip(codes).collect()
}

async fn product_count(client: &keel_tests::Client) -> usize {
    let list = client.gql("{ products(first: 100) { edges { cursor } } }", json!({})).await;
    list.edges("products").len()
}

#[tokio::test]
async fn prices_follow_the_tenant_currency_and_its_exponent() {
    let app = TestApp::spawn().await;
    let usd = app.shop("acme").await;

    let created = usd.owner.gql(CREATE, product("tee-1", "12.5", "USD")).await;
    let too_precise = usd.owner.gql(CREATE, product("TEE-2", "12.345", "USD")).await;
    let other_currency = usd.owner.gql(CREATE, product("TEE-3", "12.50", "EUR")).await;
    let unknown_currency = usd.owner.gql(CREATE, product("TEE-4", "12.50", "ABC")).await;
    let negative = usd.owner.gql(CREATE, product("TEE-5", "-1.00", "USD")).await;
    let a_float = usd
        .owner
        .gql(
            CREATE,
            json!({ "input": { "sku": "TEE-6", "name": "x", "price": { "amount": 12.5, "currencyCode": "USD" } } }),
        )
        .await;

    assert_eq!(
        created.data()["createProduct"]["product"]["price"],
        json!({ "amount": "12.50", "currencyCode": "USD" })
    );
    assert_eq!(created.data()["createProduct"]["product"]["sku"], "TEE-1");
    assert_eq!(created.data()["createProduct"]["product"]["version"], 1);
    assert_eq!(errors_of(&too_precise, "createProduct"), [("price.amount".to_owned(), "TOO_MANY_DECIMALS".to_owned())]);
    assert_eq!(
        errors_of(&other_currency, "createProduct"),
        [("price.currencyCode".to_owned(), "CURRENCY_MISMATCH".to_owned())]
    );
    assert_eq!(
        errors_of(&unknown_currency, "createProduct"),
        [("price.currencyCode".to_owned(), "UNKNOWN_CURRENCY".to_owned())]
    );
    assert_eq!(errors_of(&negative, "createProduct"), [("price.amount".to_owned(), "INVALID".to_owned())]);
    assert_eq!(a_float.error_code(), Some("BAD_USER_INPUT"), "amounts are strings, never floats");
    assert_eq!(product_count(&usd.owner).await, 1, "rejected inputs wrote nothing");
}

#[tokio::test]
async fn zero_and_three_decimal_currencies_format_exactly() {
    let app = TestApp::spawn().await;
    let register = "mutation($slug: String!, $currency: String!) { registerTenant(input: { name: \"Shop\", slug: $slug, currencyCode: $currency,
        ownerEmail: \"o@shop.test\", ownerPassword: \"correct horse battery\" }) { accessToken } }";
    let mut prices = Vec::new();

    for (slug, currency, amount) in [("yen", "JPY", "1200"), ("dinar", "KWD", "1.5")] {
        let registered = app.anonymous().gql(register, json!({ "slug": slug, "currency": currency })).await;
        let owner = app.with_bearer(&registered.expect_str("/data/registerTenant/accessToken"));
        let created = owner.gql(CREATE, product("ITEM", amount, currency)).await;
        prices.push(created.data()["createProduct"]["product"]["price"]["amount"].clone());
        let fractional_yen = owner.gql(CREATE, product("ITEM-2", "1.5", currency)).await;
        if currency == "JPY" {
            assert_eq!(
                errors_of(&fractional_yen, "createProduct"),
                [("price.amount".to_owned(), "TOO_MANY_DECIMALS".to_owned())]
            );
        }
    }

    assert_eq!(prices, [json!("1200"), json!("1.500")]);
}

#[tokio::test]
async fn a_taken_or_malformed_sku_is_a_user_error_naming_the_field() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    shop.owner.create_product("TEE-1", "Product TEE-1", "1.00").await;

    let taken = shop.owner.gql(CREATE, product("tee-1", "1.00", "USD")).await;
    let empty = shop.owner.gql(CREATE, product("  ", "1.00", "USD")).await;
    let spaced = shop.owner.gql(CREATE, product("TEE 2", "1.00", "USD")).await;

    assert_eq!(errors_of(&taken, "createProduct"), [("sku".to_owned(), "TAKEN".to_owned())]);
    assert_eq!(errors_of(&empty, "createProduct"), [("sku".to_owned(), "INVALID".to_owned())]);
    assert_eq!(errors_of(&spaced, "createProduct"), [("sku".to_owned(), "INVALID".to_owned())]);
    assert_eq!(product_count(&shop.owner).await, 1);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let id = shop.owner.create_product("TEE-1", "Product TEE-1", "10.00").await;

    let first = shop.owner.gql(UPDATE, json!({ "input": { "id": id, "expectedVersion": 1, "name": "Renamed" } })).await;
    let stale = shop.owner.gql(UPDATE, json!({ "input": { "id": id, "expectedVersion": 1, "price": { "amount": "99.00", "currencyCode": "USD" } } })).await;
    let now = shop
        .owner
        .gql("query($id: ID!) { product(id: $id) { name version price { amount } } }", json!({ "id": id }))
        .await;

    assert_eq!(
        first.data()["updateProduct"]["product"],
        json!({ "name": "Renamed", "version": 2, "price": { "amount": "10.00" } })
    );
    assert_eq!(stale.error_code(), Some("CONFLICT"), "{}", stale.text);
    assert_eq!(now.data()["product"], json!({ "name": "Renamed", "version": 2, "price": { "amount": "10.00" } }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_concurrent_updates_from_one_version_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let id = shop.owner.create_product("TEE-1", "Product TEE-1", "10.00").await;

    let mut writers = tokio::task::JoinSet::new();
    for n in 0..20 {
        let owner = shop.owner.clone();
        let id = id.clone();
        writers.spawn(async move {
            owner
                .gql(UPDATE, json!({ "input": { "id": id, "expectedVersion": 1, "name": format!("Writer {n}") } }))
                .await
        });
    }
    let answers = writers.join_all().await;

    let won: Vec<&GqlResponse> = answers.iter().filter(|r| r.data()["updateProduct"]["product"].is_object()).collect();
    let conflicts = answers.iter().filter(|r| r.error_code() == Some("CONFLICT")).count();
    assert_eq!((won.len(), conflicts), (1, 19));
    let now = shop.owner.gql("query($id: ID!) { product(id: $id) { name version } }", json!({ "id": id })).await;
    assert_eq!(now.data()["product"]["version"], 2);
    assert_eq!(now.data()["product"]["name"], won[0].data()["updateProduct"]["product"]["name"]);
}

#[tokio::test]
async fn archived_products_are_hidden_from_customers_but_not_from_staff() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;
    let (staff, _) = shop.member("STAFF", "staff@acme.test").await;
    shop.owner.create_product("ACTIVE-1", "Product ACTIVE-1", "1.00").await;
    let id = shop.owner.create_product("OLD-1", "Product OLD-1", "1.00").await;

    let archive = shop.owner.gql("mutation($id: ID!) { archiveProduct(input: { id: $id, expectedVersion: 1 }) { product { active version } } }", json!({ "id": id })).await;
    let customer_list =
        customer.gql("{ products(filter: { active: false }) { edges { node { sku } } } }", json!({})).await;
    let customer_get = customer.gql("query($id: ID!) { product(id: $id) { sku } }", json!({ "id": id })).await;
    let customer_sku = customer.gql("{ productBySku(sku: \"old-1\") { sku } }", json!({})).await;
    let staff_list = staff.gql("{ products(filter: { active: false }) { edges { node { sku } } } }", json!({})).await;
    let customer_locations = customer.gql("{ locations { edges { cursor } } }", json!({})).await;
    let staff_creates = staff.gql(CREATE, product("STAFF-1", "1.00", "USD")).await;

    assert_eq!(archive.data()["archiveProduct"]["product"], json!({ "active": false, "version": 2 }));
    assert_eq!(
        customer_list.data()["products"]["edges"],
        json!([{ "node": { "sku": "ACTIVE-1" } }]),
        "customers see active products only"
    );
    assert_eq!(customer_get.error_code(), Some("NOT_FOUND"));
    assert_eq!(customer_sku.error_code(), Some("NOT_FOUND"));
    assert_eq!(staff_list.data()["products"]["edges"], json!([{ "node": { "sku": "OLD-1" } }]));
    assert_eq!(customer_locations.error_code(), Some("FORBIDDEN"));
    assert_eq!(staff_creates.error_code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn products_are_searched_and_paged_by_keyset() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    for (sku, name) in [("TEE-RED", "Red tee"), ("TEE-BLUE", "Blue tee"), ("MUG-1", "Mug 100%"), ("CAP_1", "Cap")] {
        shop.owner.create_product(sku, name, "5").await;
    }
    let query = "query($filter: ProductFilterInput, $first: Int, $after: String) { products(first: $first, after: $after, filter: $filter) {
        edges { node { sku } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let skus = |r: &GqlResponse| r.node_strings("products", "sku");

    let tees = shop.owner.gql(query, json!({ "filter": { "search": "TEE" } })).await;
    let percent = shop.owner.gql(query, json!({ "filter": { "search": "100%" } })).await;
    let underscore = shop.owner.gql(query, json!({ "filter": { "search": "_" } })).await;
    let page_one = shop.owner.gql(query, json!({ "first": 3 })).await;
    let after = page_one.expect_str("/data/products/pageInfo/endCursor");
    let page_two = shop.owner.gql(query, json!({ "first": 3, "after": after })).await;
    let too_big = shop.owner.gql(query, json!({ "first": 1000 })).await;

    assert_eq!(skus(&tees), ["TEE-RED", "TEE-BLUE"]);
    assert_eq!(skus(&percent), ["MUG-1"], "% is matched literally");
    assert_eq!(skus(&underscore), ["CAP_1"], "_ is matched literally");
    assert_eq!(skus(&page_one), ["TEE-RED", "TEE-BLUE", "MUG-1"]);
    assert_eq!(page_one.data()["products"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(skus(&page_two), ["CAP_1"]);
    assert_eq!(page_two.data()["products"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page_two.data()["products"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(too_big.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn locations_have_unique_codes_and_can_be_renamed() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let create = "mutation($code: String!) { createLocation(input: { code: $code, name: \"Main warehouse\" }) { location { id code name } userErrors { field code } } }";

    let main = shop.owner.gql(create, json!({ "code": "main" })).await;
    let again = shop.owner.gql(create, json!({ "code": "MAIN" })).await;
    let id = main.expect_str("/data/createLocation/location/id");
    let renamed = shop
        .owner
        .gql(
            "mutation($id: ID!) { updateLocation(input: { id: $id, name: \"Berlin\" }) { location { name } } }",
            json!({ "id": id }),
        )
        .await;
    let listed = shop.owner.gql("{ locations { edges { node { code name } } } }", json!({})).await;

    assert_eq!(main.data()["createLocation"]["location"]["code"], "MAIN");
    assert_eq!(errors_of(&again, "createLocation"), [("code".to_owned(), "TAKEN".to_owned())]);
    assert_eq!(renamed.data()["updateLocation"]["location"]["name"], "Berlin");
    assert_eq!(listed.data()["locations"]["edges"], json!([{ "node": { "code": "MAIN", "name": "Berlin" } }]));
}

const SORTED: &str =
    "query($sortKey: ProductSortKey!, $reverse: Boolean!, $first: Int, $after: String, $last: Int, $before: String) {
    products(sortKey: $sortKey, reverse: $reverse, first: $first, after: $after, last: $last, before: $before) {
        edges { node { sku } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

/// One page of a sorted product list, as a client reads it.
struct SortedPage {
    skus: Vec<String>,
    has_next: bool,
    has_previous: bool,
    start: Value,
    end: Value,
}

async fn sorted_page(client: &keel_tests::Client, sort_key: &str, reverse: bool, paging: Value) -> SortedPage {
    let mut variables = json!({ "sortKey": sort_key, "reverse": reverse });
    if let (Some(variables), Some(paging)) = (variables.as_object_mut(), paging.as_object()) {
        variables.extend(paging.clone());
    }
    let response = client.gql(SORTED, variables).await;
    let products = &response.data()["products"];
    assert!(products.is_object(), "{sort_key} reverse={reverse}: {}", response.text);
    SortedPage {
        skus: response.node_strings("products", "sku"),
        has_next: products["pageInfo"]["hasNextPage"] == true,
        has_previous: products["pageInfo"]["hasPreviousPage"] == true,
        start: products["pageInfo"]["startCursor"].clone(),
        end: products["pageInfo"]["endCursor"].clone(),
    }
}

#[tokio::test]
async fn every_sort_key_pages_both_ways_without_skipping_or_repeating_ties() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let mut ids = std::collections::HashMap::new();
    // Equal names (in any case) and equal prices, so every order has ties for the id to break.
    for (sku, name, amount) in [
        ("TEE_3", "banana", "5.00"),
        ("TEE-1", "Apple", "2.50"),
        ("TEE.2", "cherry", "5.00"),
        ("MUG1", "Banana", "2.50"),
        ("A1", "apple", "9.99"),
        ("Z-9", "Äpfel", "5.00"),
        ("CAP", "BANANA", "0.50"),
        ("B.2", "date", "2.50"),
        ("B-2", "Cherry", "12.00"),
    ] {
        ids.insert(sku, shop.owner.create_product(sku, name, amount).await);
    }
    for (sku, change) in [
        ("TEE.2", json!({ "description": "Restocked" })),
        ("TEE_3", json!({ "description": "Restocked" })),
        ("CAP", json!({ "description": "Restocked" })),
        ("B.2", json!({ "name": "aardvark" })),
    ] {
        let mut input = json!({ "id": ids[sku], "expectedVersion": 1 });
        if let (Some(input), Some(change)) = (input.as_object_mut(), change.as_object()) {
            input.extend(change.clone());
        }
        let updated = shop.owner.gql(UPDATE, json!({ "input": input })).await;
        assert_eq!(updated.data()["updateProduct"]["product"]["version"], 2, "{}", updated.text);
    }
    let expected: [(&str, [&str; 9]); 5] = [
        ("CREATED_AT", ["TEE_3", "TEE-1", "TEE.2", "MUG1", "A1", "Z-9", "CAP", "B.2", "B-2"]),
        ("UPDATED_AT", ["TEE-1", "MUG1", "A1", "Z-9", "B-2", "TEE.2", "TEE_3", "CAP", "B.2"]),
        // aardvark, apple ×2, banana ×3, cherry ×2, äpfel: case ignored, ties in creation order.
        ("NAME", ["B.2", "TEE-1", "A1", "TEE_3", "MUG1", "CAP", "TEE.2", "B-2", "Z-9"]),
        ("SKU", ["A1", "B-2", "B.2", "CAP", "MUG1", "TEE-1", "TEE.2", "TEE_3", "Z-9"]),
        // 0.50, 2.50 ×3, 5.00 ×3, 9.99, 12.00
        ("PRICE", ["CAP", "TEE-1", "MUG1", "B.2", "TEE_3", "TEE.2", "Z-9", "A1", "B-2"]),
    ];

    for (sort_key, ascending) in expected {
        for reverse in [false, true] {
            let mut expected: Vec<String> = ascending.iter().map(|s| (*s).to_owned()).collect();
            if reverse {
                expected.reverse();
            }
            let label = format!("{sort_key} reverse={reverse}");

            let whole = sorted_page(&shop.owner, sort_key, reverse, json!({ "first": 100 })).await;
            assert_eq!(whole.skus, expected, "{label}: one page");
            assert!(!whole.has_next && !whole.has_previous, "{label}: one page has nothing around it");

            let mut forward = Vec::new();
            let mut after = Value::Null;
            for n in 0..5 {
                let page = sorted_page(&shop.owner, sort_key, reverse, json!({ "first": 2, "after": after })).await;
                assert_eq!(page.skus.len(), if n < 4 { 2 } else { 1 }, "{label}: forward page {n}");
                assert_eq!((page.has_previous, page.has_next), (n > 0, n < 4), "{label}: forward page {n}");
                forward.extend(page.skus);
                after = page.end;
            }
            assert_eq!(forward, expected, "{label}: forward by twos");

            let mut backward = Vec::new();
            let mut before = Value::Null;
            for n in 0..5 {
                let page = sorted_page(&shop.owner, sort_key, reverse, json!({ "last": 2, "before": before })).await;
                assert_eq!(page.skus.len(), if n < 4 { 2 } else { 1 }, "{label}: backward page {n}");
                assert_eq!((page.has_previous, page.has_next), (n < 4, n > 0), "{label}: backward page {n}");
                backward.splice(0..0, page.skus);
                before = page.start;
            }
            assert_eq!(backward, expected, "{label}: backward by twos");
        }
    }
}

#[tokio::test]
async fn a_cursor_belongs_to_its_sort_key_but_not_to_its_direction() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    for (sku, name, amount) in [("B", "b", "2"), ("D", "d", "4"), ("A", "a", "1"), ("C", "c", "3")] {
        shop.owner.create_product(sku, name, amount).await;
    }
    shop.owner.create_location("MAIN", "Main").await;
    let by_name = sorted_page(&shop.owner, "NAME", false, json!({ "first": 2 })).await;
    let by_default = shop.owner.gql("{ products(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let location = shop.owner.gql("{ locations(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let name_cursor = by_name.end.clone();
    let default_cursor = json!(by_default.expect_str("/data/products/pageInfo/endCursor"));
    let location_cursor = json!(location.expect_str("/data/locations/pageInfo/endCursor"));
    let products_after = |sort_key: &'static str, cursor: Value| {
        let owner = shop.owner.clone();
        async move {
            owner
                .gql(
                    "query($sortKey: ProductSortKey!, $after: String) { products(sortKey: $sortKey, first: 2, after: $after) { edges { node { sku } } } }",
                    json!({ "sortKey": sort_key, "after": cursor }),
                )
                .await
        }
    };

    let same_key = products_after("NAME", name_cursor.clone()).await;
    let other_key = products_after("PRICE", name_cursor.clone()).await;
    let default_key = shop
        .owner
        .gql("query($after: String) { products(after: $after) { edges { cursor } } }", json!({ "after": name_cursor }))
        .await;
    let default_into_name = products_after("NAME", default_cursor.clone()).await;
    let location_into_products = products_after("CREATED_AT", location_cursor).await;
    let product_into_locations = shop
        .owner
        .gql(
            "query($after: String) { locations(after: $after) { edges { cursor } } }",
            json!({ "after": default_cursor }),
        )
        .await;
    let backward_with_foreign = shop
        .owner
        .gql(
            "query($before: String) { products(sortKey: SKU, last: 2, before: $before) { edges { cursor } } }",
            json!({ "before": by_name.start }),
        )
        .await;
    let reversed = sorted_page(&shop.owner, "NAME", true, json!({ "first": 5, "after": name_cursor })).await;

    assert_eq!(by_name.skus, ["A", "B"]);
    assert_eq!(same_key.data()["products"]["edges"], json!([{ "node": { "sku": "C" } }, { "node": { "sku": "D" } }]));
    for (case, response) in [
        ("NAME cursor with PRICE", &other_key),
        ("NAME cursor with the default sort", &default_key),
        ("CREATED_AT cursor with NAME", &default_into_name),
        ("locations cursor with products", &location_into_products),
        ("products cursor with locations", &product_into_locations),
        ("NAME cursor as `before` with SKU", &backward_with_foreign),
    ] {
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{case}: {}", response.text);
        assert!(response.data()["products"].is_null() && response.data()["locations"].is_null(), "{case}");
    }
    assert!(
        backward_with_foreign.text.contains("before"),
        "the error names the argument: {}",
        backward_with_foreign.text
    );
    assert_eq!(reversed.skus, ["A"], "after B, in reverse, comes only A");
    assert!(reversed.has_previous && !reversed.has_next);
}

#[tokio::test]
async fn pages_stay_stable_when_products_are_added_between_them() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    for (sku, name) in [("B", "b"), ("D", "d"), ("F", "f")] {
        shop.owner.create_product(sku, name, "1").await;
    }
    let first = sorted_page(&shop.owner, "NAME", false, json!({ "first": 2 })).await;

    // Before the cursor, at the cursor's very name (a tie after it, being newer), and after it.
    for (sku, name) in [("A", "a"), ("C", "c"), ("D2", "D"), ("E", "e")] {
        shop.owner.create_product(sku, name, "1").await;
    }
    let second = sorted_page(&shop.owner, "NAME", false, json!({ "first": 10, "after": first.end })).await;
    let back = sorted_page(&shop.owner, "NAME", false, json!({ "last": 10, "before": second.start })).await;

    assert_eq!(first.skus, ["B", "D"]);
    assert_eq!(second.skus, ["D2", "E", "F"], "no repeat of D, nothing inserted before the cursor");
    assert!(second.has_previous && !second.has_next);
    assert_eq!(back.skus, ["A", "B", "C", "D"], "paging back sees what was inserted before");
    assert!(!back.has_previous && back.has_next);
}

#[tokio::test]
async fn create_product_reports_every_bad_field_at_once_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let id = shop.owner.create_product("TEE-1", "Tee", "10.00").await;

    let created = shop
        .owner
        .gql(
            CREATE,
            json!({ "input": {
                "sku": "not a sku", "name": " ", "description": "x".repeat(10_001),
                "price": { "amount": "1.999", "currencyCode": "EUR" },
            } }),
        )
        .await;
    let updated = shop
        .owner
        .gql(
            UPDATE,
            json!({ "input": { "id": id, "expectedVersion": 1, "name": "", "price": { "amount": "ten", "currencyCode": "XYZ" } } }),
        )
        .await;
    let taken_and_bad = shop.owner.gql(CREATE, product("tee-1", "-1", "USD")).await;
    let now = shop
        .owner
        .gql("query($id: ID!) { product(id: $id) { name version price { amount } } }", json!({ "id": id }))
        .await;

    assert_eq!(
        errors_of(&created, "createProduct"),
        [
            ("sku".to_owned(), "INVALID".to_owned()),
            ("name".to_owned(), "INVALID".to_owned()),
            ("description".to_owned(), "INVALID".to_owned()),
            ("price.currencyCode".to_owned(), "CURRENCY_MISMATCH".to_owned()),
            ("price.amount".to_owned(), "TOO_MANY_DECIMALS".to_owned()),
        ]
    );
    assert!(created.data()["createProduct"]["product"].is_null());
    assert!(
        created.user_errors("createProduct").iter().all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())),
        "every error explains itself"
    );
    assert_eq!(
        errors_of(&updated, "updateProduct"),
        [
            ("name".to_owned(), "INVALID".to_owned()),
            ("price.currencyCode".to_owned(), "UNKNOWN_CURRENCY".to_owned()),
            ("price.amount".to_owned(), "INVALID".to_owned()),
        ]
    );
    assert_eq!(
        errors_of(&taken_and_bad, "createProduct"),
        [("price.amount".to_owned(), "INVALID".to_owned())],
        "a field error is reported before the insert could find the SKU taken"
    );
    assert_eq!(now.data()["product"], json!({ "name": "Tee", "version": 1, "price": { "amount": "10.00" } }));
    assert_eq!(product_count(&shop.owner).await, 1, "nothing was written");
}

#[tokio::test]
async fn customers_see_how_many_are_available_but_not_where_nor_archived_products() {
    let app = TestApp::spawn().await;
    let shop = app.shop("acme").await;
    let (customer, _) = shop.member("CUSTOMER", "buyer@acme.test").await;
    let tee = shop.owner.create_product("TEE-1", "Tee", "10.00").await;
    shop.owner.create_product("MUG-1", "Mug", "5.00").await;
    let old = shop.owner.create_product("OLD-1", "Old", "1.00").await;
    let (main, backup) =
        (shop.owner.create_location("MAIN", "MAIN").await, shop.owner.create_location("BACKUP", "BACKUP").await);
    for (product, at, quantity) in [(&tee, &main, 5), (&tee, &backup, 3), (&old, &main, 9)] {
        shop.owner.receive_stock(product, at, quantity).await;
    }
    shop.owner
        .gql(
            "mutation($p: ID!, $l: ID!) { adjustStock(input: { productId: $p, locationId: $l, delta: -1, reason: ADJUSTED }) { userErrors { code } } }",
            json!({ "p": tee, "l": backup }),
        )
        .await;
    shop.owner
        .gql(
            "mutation($id: ID!) { archiveProduct(input: { id: $id, expectedVersion: 1 }) { product { active } } }",
            json!({ "id": old }),
        )
        .await;

    let list = customer
        .gql("{ products(first: 10, sortKey: SKU) { edges { node { sku availableQuantity } } } }", json!({}))
        .await;
    let one = customer.gql("query($id: ID!) { product(id: $id) { availableQuantity } }", json!({ "id": tee })).await;
    let node = customer
        .gql("query($id: ID!) { node(id: $id) { ... on Product { sku availableQuantity } } }", json!({ "id": tee }))
        .await;
    let archived_node = customer.gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": old })).await;
    let archived =
        customer.gql("query($id: ID!) { product(id: $id) { availableQuantity } }", json!({ "id": old })).await;
    let archived_sku = customer.gql("{ productBySku(sku: \"OLD-1\") { sku } }", json!({})).await;
    let archived_listed =
        customer.gql("{ products(first: 10, filter: { active: false }) { edges { node { sku } } } }", json!({})).await;
    let levels = customer
        .gql("query($id: ID!) { product(id: $id) { sku stockLevels { available } } }", json!({ "id": tee }))
        .await;
    let level = customer
        .gql(
            "query($p: ID!, $l: ID!) { stockLevel(productId: $p, locationId: $l) { available } }",
            json!({ "p": tee, "l": main }),
        )
        .await;
    let ledger = customer
        .gql(
            "query($p: ID!, $l: ID!) { stockMovements(productId: $p, locationId: $l) { edges { cursor } } }",
            json!({ "p": tee, "l": main }),
        )
        .await;
    let owner_view = shop
        .owner
        .gql("{ products(first: 10, sortKey: SKU) { edges { node { sku availableQuantity } } } }", json!({}))
        .await;

    assert_eq!(
        list.data()["products"]["edges"],
        json!([{ "node": { "sku": "MUG-1", "availableQuantity": 0 } }, { "node": { "sku": "TEE-1", "availableQuantity": 7 } }]),
        "{}",
        list.text
    );
    assert_eq!(one.data()["product"]["availableQuantity"], 7);
    assert_eq!(node.data()["node"], json!({ "sku": "TEE-1", "availableQuantity": 7 }));
    assert!(archived_node.data()["node"].is_null() && archived_node.errors().is_empty(), "{}", archived_node.text);
    assert_eq!(archived.error_code(), Some("NOT_FOUND"));
    assert_eq!(archived_sku.error_code(), Some("NOT_FOUND"));
    assert_eq!(
        archived_listed.data()["products"]["edges"],
        json!([{ "node": { "sku": "TEE-1" } }, { "node": { "sku": "MUG-1" } }]),
        "customers see active products only, whatever they ask"
    );
    assert_eq!(levels.error_code(), Some("FORBIDDEN"), "{}", levels.text);
    assert_eq!(level.error_code(), Some("FORBIDDEN"));
    assert_eq!(ledger.error_code(), Some("FORBIDDEN"));
    assert_eq!(
        owner_view.data()["products"]["edges"],
        json!([
            { "node": { "sku": "MUG-1", "availableQuantity": 0 } },
            { "node": { "sku": "OLD-1", "availableQuantity": 9 } },
            { "node": { "sku": "TEE-1", "availableQuantity": 7 } },
        ])
    );
}
