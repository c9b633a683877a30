//! Request → what it gets: the Worker's routing table, decided before any
//! Durable Object is touched.

use serde::Serialize;
use tsify::Tsify;

/// The Durable Object that serves the seed endpoint `/websocket`.
pub const SEED_OBJECT: &str = "foo";

/// The body of the 426 answer, word for word the seed's.
pub const EXPECTED_UPGRADE: &str = "Durable Object expected Upgrade: websocket";

/// What the Worker reads of a request to route it.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The absolute URL, as `Request.url` gives it.
    pub url: &'a str,
    /// The `Upgrade` header, if present.
    pub upgrade: Option<&'a str>,
}

/// What the Worker does with a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Route {
    /// Hand the request to the Durable Object `idFromName(object)`.
    Forward { object: String },
    /// Answer directly.
    Respond {
        status: u16,
        status_text: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
}

/// Routes one request.
pub fn route(head: RequestHead<'_>) -> Route {
    let (path, _query) = split_url(head.url);
    if path.ends_with("/websocket") {
        if !is_websocket_upgrade(head.upgrade) {
            return Route::Respond {
                status: 426,
                status_text: "Upgrade Required".into(),
                // RFC 9110 §15.5.22: a 426 response MUST carry the Upgrade it wants.
                headers: vec![
                    ("Upgrade".into(), "websocket".into()),
                    ("Content-Type".into(), "text/plain;charset=UTF-8".into()),
                ],
                body: Some(EXPECTED_UPGRADE.into()),
            };
        }
        return Route::Forward {
            object: SEED_OBJECT.into(),
        };
    }
    Route::Respond {
        status: 400,
        status_text: "Bad Request".into(),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: None,
    }
}

/// Whether the `Upgrade` header asks for WebSocket.
///
/// The seed compared the header to `websocket` exactly. RFC 6455 §4.2.1 asks
/// for the token `websocket` compared case-insensitively, and the header is a
/// comma-separated list (RFC 9110 §7.8), so `WebSocket` and
/// `h2c, websocket` are accepted too.
pub fn is_websocket_upgrade(upgrade: Option<&str>) -> bool {
    upgrade.is_some_and(|value| {
        value
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// Splits an absolute URL into its path and its query (without `?`), dropping
/// any fragment. A URL without a path has the path `/`.
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let from_path = match after_scheme.find(['/', '?', '#']) {
        Some(i) => &after_scheme[i..],
        None => "",
    };
    let without_fragment = from_path.split('#').next().unwrap_or("");
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(url: &str, upgrade: Option<&str>) -> Route {
        route(RequestHead { url, upgrade })
    }

    fn status(route: &Route) -> u16 {
        match route {
            Route::Respond { status, .. } => *status,
            Route::Forward { .. } => 101,
        }
    }

    #[test]
    fn routing_table() {
        let ws = Some("websocket");
        let table: &[(&str, Option<&str>, u16)] = &[
            ("http://h/websocket", ws, 101),
            ("http://h/any/prefix/websocket", ws, 101),
            ("http://h/websocket?x=1", ws, 101),
            ("http://h/websocket#frag", ws, 101),
            ("http://h/websocket", None, 426),
            ("http://h/websocket", Some("h2c"), 426),
            ("http://h/websocket", Some(""), 426),
            ("http://h/", ws, 400),
            ("http://h", ws, 400),
            ("http://h/websocket/", ws, 400),
            ("http://h/websockets", ws, 400),
            ("http://h/other", None, 400),
            ("http://h/?q=/websocket", ws, 400),
        ];
        for &(url, upgrade, want) in table {
            assert_eq!(status(&route_of(url, upgrade)), want, "{url} {upgrade:?}");
        }
    }

    #[test]
    fn forwards_to_the_seed_object() {
        assert_eq!(
            route_of("http://h/websocket", Some("websocket")),
            Route::Forward {
                object: "foo".into()
            }
        );
    }

    #[test]
    fn upgrade_required_carries_the_seed_body() {
        let Route::Respond { body, headers, .. } = route_of("http://h/websocket", None) else {
            panic!("expected a response");
        };
        assert_eq!(body.as_deref(), Some(EXPECTED_UPGRADE));
        assert!(headers.contains(&("Upgrade".into(), "websocket".into())));
    }

    #[test]
    fn bad_request_is_empty_plain_text() {
        assert_eq!(
            route_of("http://h/nope", None),
            Route::Respond {
                status: 400,
                status_text: "Bad Request".into(),
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: None,
            }
        );
    }

    #[test]
    fn upgrade_header_tolerance() {
        let table: &[(Option<&str>, bool)] = &[
            (Some("websocket"), true),
            (Some("WebSocket"), true),
            (Some(" websocket "), true),
            (Some("h2c, websocket"), true),
            (Some("web socket"), false),
            (Some("websocketx"), false),
            (Some(""), false),
            (None, false),
        ];
        for &(value, want) in table {
            assert_eq!(is_websocket_upgrade(value), want, "{value:?}");
        }
    }

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("https://h:1/a/b?c=d#e"), ("/a/b", "c=d"));
        assert_eq!(split_url("https://h?c"), ("/", "c"));
        assert_eq!(split_url("https://h"), ("/", ""));
        assert_eq!(split_url("/p?q"), ("/p", "q"));
        assert_eq!(split_url(""), ("/", ""));
    }
}
