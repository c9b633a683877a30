//! The `Origin` check of upgrades (`ALLOWED_ORIGINS`).
//!
//! Browsers send `Origin` on every WebSocket handshake and let any page open a
//! socket to any server, so a server that trusts cookies or a token kept by a
//! page must refuse pages from elsewhere (cross-site WebSocket hijacking).
//! Clients that are not browsers send no `Origin` and pass.

use crate::error::HttpError;
use crate::text;

/// An origin in the form browsers send it: `scheme://host[:port]`, lowercase,
/// without a default port or a trailing slash; `None` if `text` is not one.
pub fn parse(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = text::split_once(&text, "://")?;
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at_checked(close + 1)?;
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').is_some_and(|ip| {
            !ip.is_empty()
                && ip
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
        }),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        }
    };
    if !host_ok {
        return None;
    }
    let port = match port {
        None => None,
        // Parsed as u64, as every number the core reads (one parser in the
        // Wasm module, not one per integer type).
        Some(port) => match port.parse::<u64>().map(u16::try_from) {
            Ok(Ok(n)) if port.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return None,
        },
    };
    let default_port = match scheme {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    };
    Some(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Whether an upgrade with this `Origin` header may proceed: yes without the
/// header or with an empty list, else only if the origin is listed.
pub fn check(origin: Option<&str>, allowed: &[String]) -> Result<(), HttpError> {
    let Some(origin) = origin else {
        return Ok(());
    };
    if allowed.is_empty() || parse(origin).is_some_and(|o| allowed.contains(&o)) {
        return Ok(());
    }
    Err(HttpError::ForbiddenOrigin {
        origin: origin.chars().take(128).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_origins() {
        let table: &[(&str, Option<&str>)] = &[
            ("https://example.com", Some("https://example.com")),
            ("HTTPS://Example.COM/", Some("https://example.com")),
            ("https://example.com:443", Some("https://example.com")),
            ("http://example.com:80", Some("http://example.com")),
            ("http://localhost:8787", Some("http://localhost:8787")),
            ("http://[::1]:8787", Some("http://[::1]:8787")),
            ("http://[::1]", Some("http://[::1]")),
            ("chrome-extension://abc", Some("chrome-extension://abc")),
            ("example.com", None),
            ("https://", None),
            ("https://a.com/path", None),
            ("https://a.com:99999", None),
            ("https://a.com:", None),
            ("https://a.com:x", None),
            ("https://user@a.com", None),
            ("null", None),
            ("://a.com", None),
            ("https://[zz]", None),
            ("https://a:b:c", None),
        ];
        for &(text, want) in table {
            assert_eq!(parse(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn checks_the_header() {
        let allowed = vec!["https://app.example".to_owned()];
        assert!(check(None, &allowed).is_ok());
        assert!(check(Some("https://app.example"), &allowed).is_ok());
        assert!(check(Some("https://APP.example:443"), &allowed).is_ok());
        assert!(check(Some("https://evil.example"), &[]).is_ok());
        for origin in ["https://evil.example", "null", "", "http://app.example"] {
            let error = check(Some(origin), &allowed).expect_err(origin);
            assert_eq!(error.code(), "forbidden_origin");
            assert_eq!(error.status(), 403);
        }
    }
}
