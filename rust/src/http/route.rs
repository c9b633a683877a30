//! Request → what it gets: the Worker's routing table, decided before any
//! Durable Object is touched.

use crate::config::Config;
use crate::error::HttpError;
use crate::http::address;
use crate::http::url::{is_websocket_upgrade, query_param, split_url};
use crate::origin;
use crate::outcome::{HttpResponse, Route};
use crate::token::{self, Claims};

/// The Durable Object that serves `/websocket` (the example's name for it).
pub const ECHO_OBJECT: &str = "foo";

/// The body of the 426 answer on `/websocket`, word for word the example's.
pub const EXPECTED_UPGRADE: &str = "Durable Object expected Upgrade: websocket";

/// What the Worker reads of a request to route it.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The absolute URL, as `Request.url` gives it.
    pub url: &'a str,
    /// The `Upgrade` header, if present.
    pub upgrade: Option<&'a str>,
    /// The `Origin` header, if present.
    pub origin: Option<&'a str>,
    /// The client's address: the `CF-Connecting-IP` header, if present.
    pub client: Option<&'a str>,
}

/// What a path under `/rooms/` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomTarget<'a> {
    /// `/rooms/{room}/websocket`: join the room.
    Socket(&'a str),
    /// `/rooms/{room}`: the room's stats.
    Stats(&'a str),
}

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

/// Reads a path under `/rooms/`: `None` if the path is not under `/rooms/`,
/// an error if the room name is not valid.
pub fn room_target(path: &str) -> Option<Result<RoomTarget<'_>, HttpError>> {
    let rest = path.strip_prefix("/rooms/")?;
    let target = match rest.strip_suffix("/websocket") {
        Some(room) => RoomTarget::Socket(room),
        None => RoomTarget::Stats(rest),
    };
    let (RoomTarget::Socket(room) | RoomTarget::Stats(room)) = target;
    Some(check_room(room).map(|()| target))
}

/// A room name is 1–64 characters of `A–Z a–z 0–9 . _ -`, and not `.` or `..`.
///
/// The name is checked as it stands in the URL, so a percent-encoded
/// character (`%2F`, a look-alike letter) is refused, never decoded.
pub fn check_room(room: &str) -> Result<(), HttpError> {
    let bad = |why: &'static str| {
        Err(HttpError::BadRoom {
            room: room.chars().take(MAX_ROOM_CHARS + 1).collect(),
            why,
        })
    };
    if room.is_empty() {
        return bad("is empty");
    }
    if room.len() > MAX_ROOM_CHARS {
        return bad("is longer than 64 characters");
    }
    if !room
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("may only hold A-Z a-z 0-9 . _ -");
    }
    if room.bytes().all(|b| b == b'.') {
        return bad("may not be only dots");
    }
    Ok(())
}

/// Routes one request at `now` (ms since the epoch) under `config`.
///
/// Upgrades and stats requests are checked here, before any Durable Object
/// wakes: origin (`ALLOWED_ORIGINS`), then token (`AUTH_SECRET`; stats need
/// one valid for the room, as an upgrade does). The object checks the
/// token again with [`authenticate`] to learn who connects.
pub fn route(head: RequestHead<'_>, config: &Config, now: u64) -> Route {
    let (path, query) = split_url(head.url);
    let checked = |room: Option<&str>, object: &str| {
        let checked = origin::check(head.origin, &config.allowed_origins)
            .and_then(|()| authenticate(config, query, room, now));
        match checked {
            Ok(_) => Route::Forward {
                object: object.to_owned(),
                limit_key: address::limit_key(head.client),
            },
            Err(error) => Route::error(&error),
        }
    };
    if let Some(target) = room_target(path) {
        return match target {
            Err(error) => Route::error(&error),
            Ok(_) if head.method != "GET" => Route::error(&HttpError::MethodNotAllowed),
            Ok(RoomTarget::Socket(_)) if !is_websocket_upgrade(head.upgrade) => {
                Route::error(&HttpError::UpgradeRequired)
            }
            Ok(RoomTarget::Socket(room) | RoomTarget::Stats(room)) => checked(Some(room), room),
        };
    }
    if path.ends_with("/websocket") {
        if !is_websocket_upgrade(head.upgrade) {
            // RFC 9110 §15.5.22: a 426 response MUST carry the Upgrade it wants.
            return Route::Respond(HttpResponse::text(
                426,
                "Upgrade Required",
                &[
                    ("Upgrade", "websocket"),
                    ("Content-Type", "text/plain;charset=UTF-8"),
                ],
                Some(EXPECTED_UPGRADE),
            ));
        }
        if head.method != "GET" {
            // RFC 6455 §4.1: the opening handshake is a GET.
            return Route::Respond(HttpResponse::text(
                405,
                "Method Not Allowed",
                &[
                    ("Allow", "GET"),
                    ("Content-Type", "text/plain;charset=UTF-8"),
                ],
                Some("WebSocket upgrades must use GET"),
            ));
        }
        return checked(None, ECHO_OBJECT);
    }
    Route::Respond(HttpResponse::text(
        400,
        "Bad Request",
        &[("Content-Type", "text/plain")],
        None,
    ))
}

/// Who opens a socket: `Ok(None)` when the server is open (no
/// `AUTH_SECRET`), the token's claims when it passes for `room` (`None`:
/// the seed endpoint) at `now` (ms), else `401 unauthorized`.
pub fn authenticate(
    config: &Config,
    query: &str,
    room: Option<&str>,
    now: u64,
) -> Result<Option<Claims>, HttpError> {
    let Some(secret) = &config.auth_secret else {
        return Ok(None);
    };
    let token = query_param(query, "token");
    token::verify(secret.bytes(), token.as_deref(), room, now / 1000)
        .map(Some)
        .map_err(HttpError::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(url: &str, upgrade: Option<&str>) -> Route {
        route_method("GET", url, upgrade)
    }

    fn status(route: &Route) -> u16 {
        match route {
            Route::Respond(response) => response.status,
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
                object: "foo".into(),
                limit_key: None,
            }
        );
    }

    #[test]
    fn upgrade_required_carries_the_seed_body() {
        let Route::Respond(HttpResponse { body, headers, .. }) =
            route_of("http://h/websocket", None)
        else {
            panic!("expected a response");
        };
        assert_eq!(body.as_deref(), Some(EXPECTED_UPGRADE));
        assert!(headers.contains(&("Upgrade".into(), "websocket".into())));
    }

    #[test]
    fn bad_request_is_empty_plain_text() {
        assert_eq!(
            route_of("http://h/nope", None),
            Route::Respond(HttpResponse {
                status: 400,
                status_text: "Bad Request".into(),
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: None,
                log: None,
            })
        );
    }

    fn route_method(method: &str, url: &str, upgrade: Option<&str>) -> Route {
        route(
            RequestHead {
                method,
                url,
                upgrade,
                origin: None,
                client: None,
            },
            &Config::default(),
            0,
        )
    }

    #[test]
    fn room_routing_table() {
        let ws = Some("websocket");
        let long = format!("http://h/rooms/{}/websocket", "a".repeat(65));
        let max = format!("http://h/rooms/{}/websocket", "a".repeat(64));
        let table: &[(&str, &str, Option<&str>, u16)] = &[
            ("GET", "http://h/rooms/lobby/websocket", ws, 101),
            ("GET", "http://h/rooms/a.b_c-D9/websocket?name=x", ws, 101),
            ("GET", &max, ws, 101),
            ("GET", "http://h/rooms/lobby", None, 101),
            ("GET", "http://h/rooms/lobby/websocket", None, 426),
            ("POST", "http://h/rooms/lobby/websocket", ws, 405),
            ("POST", "http://h/rooms/lobby", None, 405),
            ("GET", &long, ws, 400),
            ("GET", "http://h/rooms//websocket", ws, 400),
            ("GET", "http://h/rooms/", ws, 400),
            ("GET", "http://h/rooms/../websocket", ws, 400),
            ("GET", "http://h/rooms/./websocket", ws, 400),
            ("GET", "http://h/rooms/a%2Fb/websocket", ws, 400),
            ("GET", "http://h/rooms/a/b/websocket", ws, 400),
            ("GET", "http://h/rooms/l%D0%BEbby/websocket", ws, 400),
            ("GET", "http://h/rooms/lobby/other", None, 400),
            ("GET", "http://h/rooms/sp ace/websocket", ws, 400),
        ];
        for &(method, url, upgrade, want) in table {
            assert_eq!(
                status(&route_method(method, url, upgrade)),
                want,
                "{method} {url} {upgrade:?}"
            );
        }
    }

    #[test]
    fn rooms_forward_to_their_own_object() {
        assert_eq!(
            route_of("http://h/rooms/lobby/websocket", Some("websocket")),
            Route::Forward {
                object: "lobby".into(),
                limit_key: None,
            }
        );
    }

    #[test]
    fn bad_room_is_json() {
        let Route::Respond(HttpResponse { body, headers, .. }) =
            route_of("http://h/rooms/a%2Fb/websocket", Some("websocket"))
        else {
            panic!("expected a response");
        };
        let body = body.unwrap_or_default();
        assert!(
            body.starts_with(r#"{"error":{"code":"bad_room","message":"#),
            "{body}"
        );
        assert_eq!(headers[0].1, "application/json;charset=UTF-8");
    }

    fn route_with(config: &Config, url: &str, origin: Option<&str>, now: u64) -> Route {
        route(
            RequestHead {
                method: "GET",
                url,
                upgrade: Some("websocket"),
                origin,
                client: None,
            },
            config,
            now,
        )
    }

    fn error_code(route: &Route) -> Option<String> {
        let Route::Respond(HttpResponse {
            body: Some(body), ..
        }) = route
        else {
            return None;
        };
        let body: serde_json::Value = serde_json::from_str(body).ok()?;
        Some(format!(
            "{} {}",
            body["error"]["code"].as_str()?,
            body["error"]["reason"].as_str().unwrap_or("-")
        ))
    }

    #[test]
    fn origin_is_checked_on_upgrades_and_stats() {
        let config = Config {
            allowed_origins: vec!["https://app.example".into()],
            ..Config::default()
        };
        let room = "http://h/rooms/lobby/websocket";
        assert!(matches!(
            route_with(&config, room, Some("https://app.example"), 0),
            Route::Forward { .. }
        ));
        assert!(matches!(
            route_with(&config, room, None, 0),
            Route::Forward { .. }
        ));
        // Stats too: a page elsewhere may not wake rooms on its visitors'
        // behalf (a page of the same origin sends no Origin with a GET).
        for url in [room, "http://h/websocket", "http://h/rooms/lobby"] {
            let refused = route_with(&config, url, Some("https://evil.example"), 0);
            assert_eq!(status(&refused), 403, "{url}");
            assert_eq!(error_code(&refused).as_deref(), Some("forbidden_origin -"));
        }
        assert!(matches!(
            route_with(&config, "http://h/rooms/lobby", None, 0),
            Route::Forward { .. }
        ));
    }

    #[test]
    fn tokens_are_checked_when_a_secret_is_set() {
        let secret = "s".repeat(32);
        let config =
            Config::from_vars(|n| (n == "AUTH_SECRET").then(|| secret.clone())).expect("config");
        let claims = |room: Option<&str>| Claims {
            sub: "u".into(),
            name: "Ada".into(),
            room: room.map(Into::into),
            exp: 100,
        };
        let lobby = token::mint(secret.as_bytes(), &claims(Some("lobby")));
        let any = token::mint(secret.as_bytes(), &claims(None));
        let table: &[(String, u64, Option<&str>)] = &[
            (
                format!("http://h/rooms/lobby/websocket?token={lobby}"),
                99_999,
                None,
            ),
            (
                format!("http://h/rooms/other/websocket?token={any}"),
                0,
                None,
            ),
            (format!("http://h/websocket?token={any}"), 0, None),
            (
                "http://h/rooms/lobby/websocket".into(),
                0,
                Some("unauthorized missing"),
            ),
            ("http://h/websocket".into(), 0, Some("unauthorized missing")),
            (
                format!("http://h/rooms/lobby/websocket?token={lobby}"),
                100_000,
                Some("unauthorized expired"),
            ),
            (
                format!("http://h/rooms/other/websocket?token={lobby}"),
                0,
                Some("unauthorized wrong_room"),
            ),
            (
                format!("http://h/websocket?token={lobby}"),
                0,
                Some("unauthorized wrong_room"),
            ),
            (
                format!("http://h/rooms/lobby/websocket?token={lobby}x"),
                0,
                Some("unauthorized bad_signature"),
            ),
            // Stats need a token valid for the room, as an upgrade does.
            (format!("http://h/rooms/lobby?token={lobby}"), 0, None),
            (format!("http://h/rooms/lobby?token={any}"), 0, None),
            (
                "http://h/rooms/lobby".into(),
                0,
                Some("unauthorized missing"),
            ),
            (
                format!("http://h/rooms/other?token={lobby}"),
                0,
                Some("unauthorized wrong_room"),
            ),
            (
                "http://h/rooms/lobby/websocket?token=abc".into(),
                0,
                Some("unauthorized malformed"),
            ),
        ];
        for (url, now, want) in table {
            let got = route_with(&config, url, None, *now);
            assert_eq!(error_code(&got).as_deref(), *want, "{url} at {now}");
            if want.is_some() {
                assert_eq!(status(&got), 401);
            }
        }
    }

    #[test]
    fn forwarded_requests_carry_the_client_address_to_count() {
        for url in [
            "http://h/websocket",
            "http://h/rooms/r/websocket",
            "http://h/rooms/r",
        ] {
            let head = |client| RequestHead {
                method: "GET",
                url,
                upgrade: Some("websocket"),
                origin: None,
                client,
            };
            let key = |client| match route(head(client), &Config::default(), 0) {
                Route::Forward { limit_key, .. } => limit_key,
                Route::Respond(response) => panic!("{url}: {response:?}"),
            };
            assert_eq!(key(Some("203.0.113.9")).as_deref(), Some("203.0.113.9"));
            assert_eq!(key(Some("127.0.0.1")), None, "{url}");
            assert_eq!(key(None), None);
        }
    }

    #[test]
    fn seed_upgrades_must_be_get() {
        let refused = route_method("POST", "http://h/websocket", Some("websocket"));
        let Route::Respond(response) = &refused else {
            panic!("expected a refusal");
        };
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("Allow".into(), "GET".into())));
        // Without Upgrade the seed's 426 comes first, whatever the method.
        assert_eq!(
            status(&route_method("POST", "http://h/websocket", None)),
            426
        );
    }
}
