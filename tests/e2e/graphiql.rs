//! GraphiQL is served by Keel itself: the page and every asset it loads come from this origin.
//! (A headless-Chromium run that renders it and runs a query is `tests/browser/run.sh`.)

use keel_tests::TestApp;

#[tokio::test]
async fn a_browser_gets_graphiql_whose_assets_all_come_from_keel() {
    let app = TestApp::spawn().await;

    let page = app.send(app.client.get(app.url("/graphql")).header("accept", "text/html,*/*;q=0.8")).await;

    assert_eq!(page.status, 200);
    assert!(page.content_type().starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap_or_else(|| panic!("no CSP: {:?}", page.headers));
    assert!(csp.contains("script-src 'self'"), "CSP confines scripts to this origin: {csp}");
    let assets: Vec<&str> =
        page.text.split(['"', '\'']).filter(|part| part.ends_with(".js") || part.ends_with(".css")).collect();
    assert_eq!(assets.len(), 5, "page loads GraphiQL, React, ReactDOM, CSS and its init script: {assets:?}");
    for asset in assets {
        assert!(asset.starts_with("/graphiql/"), "{asset} is not served by Keel");
        let fetched = app.send(app.client.get(app.url(asset))).await;
        assert_eq!(fetched.status, 200, "{asset}");
        assert!(fetched.text.len() > 100, "{asset} has content");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_not_found() {
    let app = TestApp::spawn().await;

    let missing = app.send(app.client.get(app.url("/graphiql/../../etc/passwd"))).await;
    let unknown = app.send(app.client.get(app.url("/graphiql/unknown.js"))).await;

    assert_eq!(missing.status, 404);
    assert_eq!(unknown.status, 404);
}
