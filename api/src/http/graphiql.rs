//! GraphiQL, served entirely by Keel: the page, React and GraphiQL's bundle are compiled into
//! the binary (see `api/assets/graphiql/LICENSES.txt`), so the playground works on a machine
//! with no internet. A Content-Security-Policy restricts the page to this origin, which also
//! proves it: a script or style from a CDN would be blocked.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Allows only this origin (inline styles are GraphiQL's own; `data:` holds its fonts).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Assets change only with the binary; a day of caching keeps reloads fast.
const ASSET_CACHE_CONTROL: &str = "public, max-age=86400";

const INDEX_HTML: &str = include_str!("../../assets/graphiql/index.html");

/// Name, media type and bytes of every bundled asset.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../../assets/graphiql/graphiql.min.css")),
    ("graphiql.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/graphiql.min.js")),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    ("keel-graphiql.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/keel-graphiql.js")),
];

/// The GraphiQL page.
pub fn page() -> Response {
    let mut response =
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX_HTML)
            .into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// `GET /graphiql/{asset}`: one bundled file, or 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, media_type, bytes)) => {
            ([(header::CONTENT_TYPE, *media_type), (header::CACHE_CONTROL, ASSET_CACHE_CONTROL)], *bytes)
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
