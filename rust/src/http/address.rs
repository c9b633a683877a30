//! The client address the Worker counts requests against, with the
//! platform's Rate Limiting binding (`UPGRADE_LIMITER` in wrangler.jsonc):
//! a client that opens sockets (or asks for stats) faster than the
//! binding allows gets `429 too_many_requests` before any Durable Object
//! wakes, so reconnecting in a loop cannot buy fresh rate limit buckets or
//! churn a room's joins and leaves.
//!
//! The address is the `CF-Connecting-IP` header, which Cloudflare's edge
//! sets on every request (a client cannot forge it there). An IPv6 client
//! is counted by its /64, the block one subscriber is usually given, so it
//! cannot spread its requests over the addresses of its own network.
//! Requests without the header (from another Worker through a service
//! binding) and from a loopback address (only `wrangler dev` sees those:
//! local tests and benchmarks) are not counted.

/// The rate limiter's key for a request from `client` (the
/// `CF-Connecting-IP` header), or `None` if it is not counted.
///
/// Read by hand, not with `std::net`: its parser and formatter would add
/// 10 KiB to the Wasm module for what the edge always writes in one form.
pub fn limit_key(client: Option<&str>) -> Option<String> {
    let client = client?.trim().to_ascii_lowercase();
    // An IPv4 address, or one mapped into IPv6.
    let v4 = client
        .strip_prefix("::ffff:")
        .filter(|rest| rest.contains('.'))
        .unwrap_or(&client);
    if !v4.contains(':') {
        return match v4 {
            "" => None,
            _ if v4.starts_with("127.") => None,
            _ => Some(v4.chars().take(64).collect()),
        };
    }
    match groups(v4) {
        Some(groups) if groups[..7].iter().all(|g| *g == "0") && groups[7] == "1" => None,
        Some(groups) => {
            let mut key = String::new();
            for group in &groups[..4] {
                key.push_str(group);
                key.push(':');
            }
            key.push_str(":/64");
            Some(key)
        }
        // Not an address (the edge never sends one like it): counted as
        // it is, cut short.
        None => Some(v4.chars().take(64).collect()),
    }
}

/// The eight groups of an IPv6 address in hex without leading zeros (`::`
/// expanded), or `None` if `text` is not one.
fn groups(text: &str) -> Option<[&str; 8]> {
    let mut groups = ["0"; 8];
    let (head, tail) = match crate::text::split_once(text, "::") {
        Some((head, tail)) => (head, Some(tail)),
        None => (text, None),
    };
    let mut n = 0;
    for part in parts(head) {
        *groups.get_mut(n)? = group(part)?;
        n += 1;
    }
    match tail {
        None if n == 8 => {}
        None => return None,
        Some(tail) => {
            let count = parts(tail).count();
            if n + count > 7 {
                return None;
            }
            for (i, part) in parts(tail).enumerate() {
                groups[8 - count + i] = group(part)?;
            }
        }
    }
    Some(groups)
}

/// The `:`-separated parts of `text`; none if it is empty.
fn parts(text: &str) -> impl Iterator<Item = &str> + Clone {
    text.split(':').filter(move |_| !text.is_empty())
}

/// One group of an IPv6 address: 1–4 hex digits, leading zeros dropped.
fn group(text: &str) -> Option<&str> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match text.trim_start_matches('0') {
        "" => Some("0"),
        digits => Some(digits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_an_address_ipv6_by_its_64_and_never_loopback() {
        let table: &[(Option<&str>, Option<&str>)] = &[
            (Some("203.0.113.7"), Some("203.0.113.7")),
            (Some(" 198.51.100.1 "), Some("198.51.100.1")),
            (Some("2001:db8:1:2:3:4:5:6"), Some("2001:db8:1:2::/64")),
            (Some("2001:DB8:01:0002::ffff"), Some("2001:db8:1:2::/64")),
            (Some("::ffff:203.0.113.7"), Some("203.0.113.7")),
            (Some("127.0.0.1"), None),
            (Some("127.8.9.10"), None),
            (Some("::1"), None),
            (Some("::ffff:127.0.0.1"), None),
            (Some(""), None),
            (None, None),
            (Some("2001:db8::"), Some("2001:db8:0:0::/64")),
            (Some("::2:3:4:5:6:7:8"), Some("0:2:3:4::/64")),
            (Some("0:0:0:0:0:0:0:1"), None),
            (Some("1:2:3:4:5:6:7:8:9"), Some("1:2:3:4:5:6:7:8:9")),
            (Some("not an address"), Some("not an address")),
        ];
        for &(client, want) in table {
            assert_eq!(limit_key(client).as_deref(), want, "{client:?}");
        }
    }
}
