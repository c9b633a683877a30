//! Reading a request's URL and headers as the server needs them, without
//! a URL library: the path and query of an absolute URL, one query
//! parameter, and the `Upgrade` header.

use crate::text;

/// The value of `key` in a query string, percent-decoded (`+` is a space).
/// `None` when absent; a value that does not decode to UTF-8 comes back with
/// U+FFFD in place of the bad bytes, and name validation then refuses it.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would also
                // take a sign ("%+1" as byte 1), which URLSearchParams keeps.
                let digit = |at: usize| char::from(*bytes.get(at)?).to_digit(16);
                let hex = digit(i + 1)
                    .zip(digit(i + 2))
                    .map(|(high, low)| (high << 4 | low) as u8);
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the `Upgrade` header asks for WebSocket.
///
/// The seed compared the header to `websocket` exactly. RFC 6455 §4.2.1 asks
/// for the token compared case-insensitively, so `WebSocket` and ` websocket `
/// are accepted too. A list such as `h2c, websocket` is refused with 426:
/// the Workers runtime will not return a WebSocket for it (it answers 500).
pub fn is_websocket_upgrade(upgrade: Option<&str>) -> bool {
    upgrade.is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"))
}

/// Splits an absolute URL into its path and its query (without `?`), dropping
/// any fragment. A URL without a path has the path `/`.
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = text::split_once(url, "://").map_or(url, |(_, rest)| rest);
    let from_path = match after_scheme.find(['/', '?', '#']) {
        // `get`, not indexing: a slice that could panic brings the standard
        // library's panic message for it, and with it `{:?}` of a char and
        // the Unicode tables behind it, into the Wasm module (about 3 KiB).
        Some(i) => after_scheme.get(i..).unwrap_or_default(),
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

    #[test]
    fn upgrade_header_tolerance() {
        let table: &[(Option<&str>, bool)] = &[
            (Some("websocket"), true),
            (Some("WebSocket"), true),
            (Some(" websocket "), true),
            (Some("\twebsocket"), true),
            (Some("h2c, websocket"), false),
            (Some("websocket, h2c"), false),
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

    #[test]
    fn query_params() {
        assert_eq!(query_param("name=Ada", "name").as_deref(), Some("Ada"));
        assert_eq!(
            query_param("a=1&name=Ada+L%C3%B6", "name").as_deref(),
            Some("Ada Lö")
        );
        assert_eq!(query_param("name", "name").as_deref(), Some(""));
        assert_eq!(query_param("x=1", "name"), None);
        assert_eq!(query_param("name=%zz%", "name").as_deref(), Some("%zz%"));
        assert_eq!(query_param("name=%FF", "name").as_deref(), Some("\u{fffd}"));
        // Found by rust/tests/no_panic.rs: a sign is not a hex digit.
        assert_eq!(query_param("name=%+A", "name").as_deref(), Some("% A"));
        assert_eq!(query_param("name=%+1%2B", "name").as_deref(), Some("% 1+"));
    }
}
