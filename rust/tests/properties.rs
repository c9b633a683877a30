//! The core must not panic on any input, and what it decides must stay
//! something a client can receive: property tests over every parser and
//! pure decision function, fed arbitrary strings, bytes, codes and clocks.
//! (Rooms, sockets and objects as a whole: `room_model.rs`.)
//!
//! The run is bounded (256 cases per property unless `PROPTEST_CASES` says
//! otherwise) so it is part of `npm test`. A failure prints the shrunk input;
//! nothing is persisted to `proptest-regressions/`: the case becomes a unit
//! test next to the code it broke, where a reader finds it.

mod common;
mod json_reference;

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use common::*;
use websocket_hibernation_server::close::{self, clip_reason, CloseCode, MAX_REASON_BYTES};
use websocket_hibernation_server::config::{self, Config};
use websocket_hibernation_server::echo;
use websocket_hibernation_server::error as protocol_error;
use websocket_hibernation_server::http::route::{self, check_room, room_target, RequestHead};
use websocket_hibernation_server::http::url::{is_websocket_upgrade, query_param, split_url};
use websocket_hibernation_server::invisible::is_invisible;
use websocket_hibernation_server::limit::{too_large, Bucket, Rate, Verdict, STRIKE_BURSTS};
use websocket_hibernation_server::outcome::{Effect, Route};
use websocket_hibernation_server::protocol::{self, ClientFrame, Frame, MAX_NAME_CHARS};
use websocket_hibernation_server::records::{self, Unreadable};
use websocket_hibernation_server::token::{self, Claims, MAX_TOKEN_BYTES};

/// Any client frame that passes validation, as serde would write it. A new
/// variant of `ClientFrame` must be added here by hand (the compiler stops at
/// the `match` of `parse_accepts_only_valid_frames` below, not here).
fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let text = || any_text().prop_filter("not blank", |t| !t.trim().is_empty());
    let name = any_text().prop_filter_map("a valid name", |n| protocol::name(&n).ok());
    prop_oneof![
        text().prop_map(|text| ClientFrame::Say { text }),
        (any_text(), text()).prop_map(|(to, text)| ClientFrame::Whisper { to, text }),
        name.prop_map(|name| ClientFrame::Hello { name }),
        prop::option::of(any_text()).prop_map(|after| ClientFrame::Who { after }),
        Just(ClientFrame::Ping),
        Just(ClientFrame::Typing),
    ]
}

/// `client_frame()` makes every type the object model sends (`KINDS`), so a
/// type added there but not to the generator is caught too.
#[test]
fn client_frames_of_every_kind_are_generated() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = client_frame();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let frame = strategy.new_tree(&mut runner).expect("a frame").current();
        let json = serde_json::to_value(&frame).expect("json");
        seen.insert(json["type"].as_str().unwrap_or("").to_owned());
    }
    let mut kinds: Vec<&str> = KINDS.to_vec();
    kinds.sort_unstable();
    assert_eq!(
        seen.iter().map(String::as_str).collect::<Vec<_>>(),
        kinds,
        "client_frame() above and KINDS in rust/tests/common/mod.rs must list the same types"
    );
}

proptest! {
    #![proptest_config(bounded())]

    /// `records::object` reads any text as serde_json's deserializer did
    /// (the reference in `json_reference.rs`): the same fields, the same
    /// refusal, the same words and position for a text that is not JSON.
    #[test]
    fn records_read_any_text_as_serde_json_did(
        text in json_like_text(),
        keep in 0..3u8,
        nested in any::<bool>(),
    ) {
        let keep: &dyn Fn(&str) -> bool = match keep {
            0 => &|_| true,
            1 => &|_| false,
            _ => &|key| key.len() % 2 == 1,
        };
        let read = records::object(&text, keep, nested).map_err(|error| match error {
            Unreadable::NotObject => None,
            Unreadable::BadJson(error) => Some(error.to_string()),
        });
        prop_assert_eq!(read, json_reference::object(&text, keep, nested), "{:?}", text);
    }

    /// The wire format of client frames is written twice, by serde's tags
    /// on `ClientFrame` (which TypeScript's types come from) and by
    /// `protocol::parse`: every frame serde writes parses back to itself.
    #[test]
    fn every_client_frame_serde_writes_parses_back_to_itself(frame in client_frame()) {
        let json = serde_json::to_string(&frame).expect("serialises");
        prop_assert_eq!(protocol::parse(&json, protocol::MAX_TEXT_CHARS), Ok(frame), "{}", json);
        // The object model (room_model.rs) sends every type and field too.
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        for (key, field) in value.as_object().into_iter().flatten() {
            match key.as_str() {
                "type" => prop_assert!(
                    KINDS.contains(&field.as_str().unwrap_or("")),
                    "add {} to KINDS in rust/tests/common/mod.rs", field
                ),
                "to" | "after" => {}
                other => prop_assert!(
                    FIELDS.contains(&other),
                    "add {:?} to FIELDS in rust/tests/common/mod.rs", other
                ),
            }
        }
    }
    /// `protocol::parse` reads frames field by field; it answers exactly as
    /// reading the whole frame into a `serde_json::Value` did (the
    /// reference below), on any JSON value with or without frame fields.
    #[test]
    fn parse_answers_as_a_whole_value_reading_did(
        extra in any_json(),
        fields in vec((
            prop::sample::select(vec!["type", "text", "to", "name", "after", "x"]),
            prop_oneof![
                prop::sample::select(vec!["say", "whisper", "hello", "who", "ping", "shout"])
                    .prop_map(Value::from),
                any_json(),
            ],
        ), 0..5),
        max in prop_oneof![1usize..50, Just(protocol::MAX_TEXT_CHARS)],
    ) {
        let value = match extra {
            Value::Object(mut object) => {
                for (key, value) in fields {
                    object.insert(key.to_owned(), value);
                }
                Value::Object(object)
            }
            other => other,
        };
        let text = value.to_string();
        prop_assert_eq!(
            protocol::parse(&text, max).map_err(|e| e.code()),
            reference_parse(&value, max).map_err(|e| e.code()),
            "{}", text
        );
    }

    #[test]
    fn parse_accepts_only_valid_frames(
        frame in text_frame(),
        members in vec("[a-z]{8}", 0..3),
        max in prop_oneof![1usize..50, Just(protocol::MAX_TEXT_CHARS)],
    ) {
        let text = frame.render(&members);
        match protocol::parse(&text, max) {
            Ok(ClientFrame::Say { text }) | Ok(ClientFrame::Whisper { text, .. }) => {
                prop_assert!(text.chars().count() <= max);
                prop_assert!(!text.trim().is_empty());
            }
            Ok(ClientFrame::Hello { name }) => {
                prop_assert_eq!(protocol::name(&name), Ok(name.clone()));
            }
            // A new ClientFrame variant: add it to `client_frame()` above too.
            Ok(ClientFrame::Who { .. } | ClientFrame::Ping | ClientFrame::Typing) => {}
            Err(error) => {
                let reply = protocol::ServerFrame::error(&error).to_json();
                check_server_frame(&reply)?;
            }
        }
    }

    #[test]
    fn names_are_trimmed_short_and_printable(raw in any_text()) {
        if let Ok(name) = protocol::name(&raw) {
            prop_assert_eq!(name.trim(), name.as_str());
            let len = name.chars().count();
            prop_assert!((1..=MAX_NAME_CHARS).contains(&len));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(!name.chars().any(is_invisible));
            prop_assert_eq!(protocol::name(&name), Ok(name.clone()));
        }
    }

    /// The review's look-alikes (and the rest of the table's kinds), put
    /// inside a valid name, make it invalid: `Ad\u{200B}a` is not `Ada`.
    /// (At either end, the white-space ones, U+2028 and U+2029, are trimmed
    /// off like a space.)
    #[test]
    fn a_name_with_an_invisible_character_is_refused(
        name in "[A-Za-z][A-Za-z ]{0,18}[A-Za-z]",
        at in any::<prop::sample::Index>(),
        ch in prop::sample::select(vec![
            '\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{2028}', '\u{2029}', '\u{00AD}',
            '\u{034F}', '\u{061C}', '\u{180E}', '\u{200D}', '\u{2060}', '\u{2069}', '\u{3164}',
            '\u{FE0F}', '\u{FFFB}', '\u{1D17A}', '\u{E0001}', '\u{E007F}', '\u{E0100}',
        ]),
    ) {
        let chars: Vec<char> = name.chars().collect();
        let at = 1 + at.index(chars.len() - 1);
        let spoof: String = chars[..at].iter().chain([&ch]).chain(&chars[at..]).collect();
        prop_assert!(protocol::name(&spoof).is_err(), "{:?} passed", spoof);
    }

    #[test]
    fn origins_normalise_once(text in any_text(), allowed in vec(any_text(), 0..3)) {
        if let Some(origin) = route_origin(&text) {
            prop_assert_eq!(websocket_hibernation_server::origin::parse(&origin), Some(origin.clone()));
            prop_assert!(!origin.chars().any(|c| c.is_ascii_uppercase()));
            prop_assert!(websocket_hibernation_server::origin::check(Some(&text), &[origin]).is_ok());
        }
        let allowed: Vec<String> = allowed.iter().filter_map(|a| route_origin(a)).collect();
        let checked = websocket_hibernation_server::origin::check(Some(&text), &allowed);
        if allowed.is_empty() {
            prop_assert!(checked.is_ok());
        }
        if let Err(error) = checked {
            prop_assert_eq!(error.status(), 403);
            check_server_json(&error)?;
        }
        prop_assert!(websocket_hibernation_server::origin::check(None, &allowed).is_ok());
    }

    #[test]
    fn config_reads_any_values(values in vec(prop::option::of(any_text()), config::VARIABLES.len())) {
        let vars: BTreeMap<&str, String> = config::VARIABLES
            .iter()
            .zip(values)
            .filter_map(|(name, value)| value.map(|v| (*name, v)))
            .collect();
        match Config::from_vars(|name| vars.get(name).cloned()) {
            Ok(config) => {
                prop_assert!((1..=config::MAX_MESSAGE_BYTES_LIMIT).contains(&config.max_message_bytes));
                prop_assert!((1..=config::PLATFORM_MAX_CONNECTIONS).contains(&config.max_connections_per_room));
                let rate = config.rate_limit_per_second;
                prop_assert_eq!(Rate::parse(&rate.to_string()), Some(rate));
                prop_assert!(config.rate_limit_burst >= 1);
                prop_assert!(config.max_text_chars >= 1);
                if let Some(secret) = &config.auth_secret {
                    prop_assert!(secret.bytes().len() >= config::MIN_SECRET_BYTES);
                }
            }
            Err(error) => {
                prop_assert!(config::VARIABLES.contains(&error.name));
                if error.name == "AUTH_SECRET" {
                    prop_assert!(error.value.starts_with("<secret of "), "shows the secret");
                }
                prop_assert!(error.to_string().contains(error.name));
            }
        }
    }

    #[test]
    fn tokens_round_trip(
        sub in any_text().prop_filter("short", |s| s.len() <= 200),
        name in any_text().prop_filter_map("a valid name", |n| protocol::name(&n).ok()),
        room in prop::option::of(prop_oneof!["[a-z]{1,8}".boxed(), any_text().boxed()]),
        exp in 1u64..,
        now_back in any::<u64>(),
        secret in vec(any::<u8>(), config::MIN_SECRET_BYTES..64),
    ) {
        let claims = Claims { sub, name, room: room.clone(), exp };
        let token = token::mint(&secret, &claims);
        prop_assert!(token.len() <= MAX_TOKEN_BYTES);
        let now = exp.saturating_sub(now_back.max(1));
        prop_assert_eq!(token::verify(&secret, Some(&token), room.as_deref(), now), Ok(claims.clone()));
        prop_assert_eq!(
            token::verify(&secret, Some(&token), room.as_deref(), exp).map_err(|e| e.reason()),
            Err("expired")
        );
        if room.is_some() {
            prop_assert!(token::verify(&secret, Some(&token), None, now).is_err());
        }
        let mut other = secret.clone();
        other[0] ^= 1;
        prop_assert_eq!(
            token::verify(&other, Some(&token), room.as_deref(), now).map_err(|e| e.reason()),
            Err("bad_signature")
        );
    }

    #[test]
    fn any_single_byte_change_refuses_a_token(
        name in "[A-Za-z][A-Za-z ]{0,30}[a-z]",
        room in prop::option::of("[a-z]{1,8}"),
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let claims = Claims { sub: "u1".into(), name, room: room.clone(), exp: 1_000 };
        let token = token::mint(SECRET.as_bytes(), &claims);
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let changed = String::from_utf8_lossy(&bytes);
        prop_assert!(
            token::verify(SECRET.as_bytes(), Some(&changed), room.as_deref(), 0).is_err(),
            "{changed} verified (changed byte {i} of {token})"
        );
    }

    #[test]
    fn verify_refuses_anything_forged(
        token in prop_oneof![
            any_text(),
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}=*",
            any_json().prop_map(|v| format!("{}.{}", b64(&v.to_string()), b64("sig"))),
        ],
        room in prop::option::of(any_text()),
        now in any::<u64>(),
        secret in vec(any::<u8>(), 0..64),
    ) {
        let got = token::verify(&secret, Some(&token), room.as_deref(), now);
        prop_assert!(got.is_err(), "forged token accepted: {got:?}");
        let error = got.unwrap_err();
        prop_assert!(!error.reason().is_empty() && !error.message().is_empty());
    }

    #[test]
    fn buckets_never_exceed_burst_plus_refill(
        burst in 1u32..50,
        rate in rate_text(),
        start in prop_oneof![0u64..1_000, any::<u64>()],
        ticks in vec(tick(), 1..200),
    ) {
        let per_second = Rate::parse(&rate).expect("generated rate is valid");
        // Exact arithmetic for the bound: milli-tokens per second.
        let milli_per_second = u128::from(milli(&rate));
        let mut bucket = Bucket::full(burst, start);
        let (mut now, mut latest, mut allowed, mut refused) = (start, start, 0u64, 0u64);
        let mut told: Option<u64> = None;
        // The time a token takes to come back, in ms.
        let interval = (1_000_000u128).div_ceil(milli_per_second) as u64;
        for tick in ticks {
            now = tick.apply(now);
            latest = latest.max(now);
            match bucket.take(now, per_second, burst) {
                Verdict::Allow => allowed += 1,
                Verdict::Drop { tell } => {
                    refused += 1;
                    if tell {
                        // rate_limited at most once per refill interval
                        // (unless the clock went back, or to 0, which the
                        // bucket reads as "never told").
                        if let Some(last) = told.filter(|&last| now >= last && last > 0) {
                            prop_assert!(now - last >= interval,
                                "told at {last} and {now}, interval {interval}");
                        }
                        told = Some(now);
                    }
                }
                Verdict::Close => {
                    refused += 1;
                    prop_assert!(refused > u64::from(burst * STRIKE_BURSTS),
                        "closed after {refused} drops");
                }
            }
            // allowed <= burst + rate × elapsed, in millionths of a frame.
            let elapsed_ms = u128::from(latest - start);
            let bound = u128::from(burst) * 1_000_000 + milli_per_second * elapsed_ms;
            prop_assert!(u128::from(allowed) * 1_000_000 <= bound,
                "{allowed} frames let through in {elapsed_ms} ms at {rate}/s, burst {burst}");
            prop_assert!(bucket.milli_tokens <= burst * 1000);
        }
    }

    #[test]
    fn buckets_take_any_state(
        milli_tokens in any::<u32>(),
        updated_at in any::<u64>(),
        dropped in any::<u32>(),
        milli_strikes in any::<u32>(),
        limited_at in any::<u64>(),
        now in any::<u64>(),
        per_second in prop_oneof![
            any::<u32>().prop_map(Rate::per_second),
            rate_text().prop_map(|r| Rate::parse(&r).expect("valid")),
        ],
        burst in any::<u32>(),
        bytes in any::<usize>(),
        max in any::<u32>(),
    ) {
        let mut bucket = Bucket { milli_tokens, updated_at, dropped, milli_strikes, limited_at };
        let _ = bucket.take(now, per_second, burst);
        prop_assert!(bucket.updated_at >= updated_at, "the clock went back");
        prop_assert_eq!(too_large(bytes, max), bytes > max as usize);
    }

    #[test]
    fn routes_any_request(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), any_text()],
        path in prop_oneof![
            "/rooms/[a-zA-Z0-9._%/-]{0,12}(/websocket)?",
            Just("/websocket".to_owned()),
            any_text(),
        ],
        rest in any_text(),
        upgrade in prop::option::of(prop_oneof![Just("websocket".to_owned()), any_text()]),
        origin in prop::option::of(any_text()),
        client in prop::option::of(prop_oneof![any_text(), "[0-9a-f:.]{0,40}"]),
        allowed in vec("https://[a-z]{1,5}\\.example", 0..2),
        auth in any::<bool>(),
        now in any::<u64>(),
    ) {
        let config = Config {
            allowed_origins: allowed,
            auth_secret: auth.then(|| Config::from_vars(|n| (n == "AUTH_SECRET").then(|| SECRET.to_owned()))
                .expect("valid").auth_secret).flatten(),
            ..Config::default()
        };
        let url = format!("https://host{path}{rest}");
        let head = RequestHead {
            method: &method,
            url: &url,
            upgrade: upgrade.as_deref(),
            origin: origin.as_deref(),
            client: client.as_deref(),
        };
        match route::route(head, &config, now) {
            Route::Forward { object, limit_key } => {
                prop_assert!(limit_key.is_none_or(|key| !key.is_empty() && key.len() <= 256));
                prop_assert!(object == route::ECHO_OBJECT || check_room(&object).is_ok(),
                    "forwarded to object {object:?}");
            }
            Route::Respond(response) => check_response(&response)?,
        }
        let (path, query) = split_url(&url);
        prop_assert!(path.starts_with('/') && !path.contains(['?', '#']), "{path:?}");
        prop_assert!(!query.contains('#'));
        if let Some(Ok(target)) = room_target(path) {
            let (route::RoomTarget::Socket(room) | route::RoomTarget::Stats(room)) = target;
            prop_assert!(check_room(room).is_ok());
        }
        let _ = route::authenticate(&config, query, Some("r"), now);
    }

    #[test]
    fn room_names_are_safe(room in any_text()) {
        if check_room(&room).is_ok() {
            prop_assert!((1..=route::MAX_ROOM_CHARS).contains(&room.len()));
            prop_assert!(room.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            prop_assert!(room != "." && room != "..");
        } else if let Err(error) = check_room(&room) {
            prop_assert_eq!(error.status(), 400);
            check_server_json(&error)?;
        }
    }

    #[test]
    fn query_params_decode_like_url_search_params(
        value in "[a-z0-9%+=?A-F ]{0,20}",
        key in "[a-z]{1,6}",
        noise in "[a-z0-9%=]{0,10}",
    ) {
        let query = format!("{noise}&{key}={value}");
        // `noise` may itself set the key first.
        if !noise.split('&').any(|pair| reference_decode(pair.split('=').next().unwrap_or("")) == key) {
            prop_assert_eq!(query_param(&query, &key), Some(reference_decode(&value)));
        }
    }

    #[test]
    fn query_params_round_trip(value in any::<String>()) {
        let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
        prop_assert_eq!(query_param(&format!("x=1&name={encoded}"), "name"), Some(value));
    }

    #[test]
    fn upgrade_headers(
        value in any_text(),
        case in vec(any::<bool>(), 9),
        space in "[ \t]{0,2}",
        other in "[a-z0-9/.]{1,6}",
    ) {
        let _ = is_websocket_upgrade(Some(&value));
        let websocket: String = "websocket"
            .chars()
            .zip(case)
            .map(|(c, upper)| if upper { c.to_ascii_uppercase() } else { c })
            .collect();
        let header = format!("{space}{websocket}{space}");
        prop_assert!(is_websocket_upgrade(Some(&header)), "{:?}", header);
        // A list is refused: the runtime returns no WebSocket for it.
        let list = format!("{other}, {websocket}");
        prop_assert!(!is_websocket_upgrade(Some(&list)), "{:?}", list);
    }

    #[test]
    fn rates_read_back_as_they_show(text in any_text(), rate in rate_text()) {
        if let Some(parsed) = Rate::parse(&text) {
            prop_assert_eq!(Rate::parse(&parsed.to_string()), Some(parsed));
        }
        let parsed = Rate::parse(&rate).expect("generated rate is valid");
        prop_assert_eq!(milli(&parsed.to_string()), milli(&rate));
    }

    #[test]
    fn close_codes_and_reasons_are_sendable(code in any::<u16>(), reason in any_text(), long in "é{60,70}") {
        if let Some(close) = CloseCode::new(code) {
            prop_assert_eq!(close.get(), code);
            prop_assert!(!matches!(code, 1004..=1006 | 1015) && (1000..5000).contains(&code));
        }
        for reason in [reason.as_str(), long.as_str()] {
            let clipped = clip_reason(reason);
            prop_assert!(clipped.len() <= MAX_REASON_BYTES);
            prop_assert!(reason.starts_with(clipped));
            if reason.len() <= MAX_REASON_BYTES {
                prop_assert_eq!(clipped, reason);
            } else {
                prop_assert!(clipped.len() > MAX_REASON_BYTES - 4, "clipped more than a character");
            }
        }
    }

    #[test]
    fn echo_answers_every_frame_and_close(
        text in any_text(),
        len in any::<usize>(),
        connections in any::<u64>(),
        max in any::<u32>(),
        code in close_code(),
    ) {
        let reply = echo::on_message(Frame::Text(&text), connections, max);
        check_closes(&reply)?;
        if too_large(text.len(), max) {
            let too_big = matches!(reply.0.as_slice(), [Effect::Close { code, .. }] if code.get() == 1009);
            prop_assert!(too_big, "not closed with 1009: {:?}", reply);
        } else {
            prop_assert_eq!(reply, Effect::Reply { text: echo::reply_text(&text, connections) }.into());
        }
        let binary = echo::on_message(Frame::Binary(len), connections, max);
        check_closes(&binary)?;
        prop_assert!(closes(&binary));
        let closed = echo::on_close(code);
        prop_assert_eq!(&closed, &Effect::answer_close(code).into());
        prop_assert_eq!(close::answer(code).get() == code, CloseCode::new(code).is_some());
        check_closes(&closed)?;
        prop_assert_eq!(closed.0.len(), 1);
        prop_assert!(closes(&closed));
    }

}

fn route_origin(text: &str) -> Option<String> {
    websocket_hibernation_server::origin::parse(text)
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// `application/x-www-form-urlencoded` decoding as WHATWG URL specifies it
/// (what `URLSearchParams` does): `+` is a space, `%` and two hex digits is
/// a byte, any other `%` is itself.
fn reference_decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parser as it was, on a whole `serde_json::Value`: the reference
/// `protocol::parse` must agree with.
fn reference_parse(value: &Value, max: usize) -> Result<ClientFrame, protocol_error::Error> {
    use protocol_error::Error;
    let Value::Object(object) = value else {
        return Err(Error::NotObject);
    };
    let string = |field: &'static str| match object.get(field) {
        Some(Value::String(value)) => Ok(value.clone()),
        _ => Err(Error::InvalidField {
            field,
            detail: String::new(),
        }),
    };
    let text = |field: &'static str| {
        let text = string(field)?;
        if text.chars().count() > max || text.trim().is_empty() {
            return Err(Error::Empty { field });
        }
        Ok(text)
    };
    match object.get("type") {
        Some(Value::String(kind)) => match kind.as_str() {
            "say" => Ok(ClientFrame::Say {
                text: text("text")?,
            }),
            "whisper" => {
                let to = string("to")?;
                Ok(ClientFrame::Whisper {
                    to,
                    text: text("text")?,
                })
            }
            "hello" => Ok(ClientFrame::Hello {
                name: protocol::name(&string("name")?)?,
            }),
            "who" => Ok(ClientFrame::Who {
                after: match object.get("after") {
                    None => None,
                    Some(_) => Some(string("after")?),
                },
            }),
            "ping" => Ok(ClientFrame::Ping),
            _ => Err(Error::UnknownType { kind: kind.clone() }),
        },
        _ => Err(Error::MissingType),
    }
}

/// Texts near JSON: objects of any values, edited a few characters at a
/// time; soups of JSON's tokens and their near misses; numbers at the edges
/// of serde_json's range; deep nesting.
fn json_like_text() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"a\"",
        "\"",
        "\\",
        "\\u",
        "\\uD83D",
        "\\uDE00",
        "\\uDC00",
        "\\u00e9",
        "\\n",
        "\\x",
        "0",
        "-",
        "1",
        ".",
        "e",
        "E",
        "+",
        "007",
        "18446744073709551615",
        "18446744073709551616",
        "1e308",
        "2e308",
        "1e-400",
        "0e999",
        "1e2147483648",
        "true",
        "tru",
        "null",
        "nul",
        "f",
        " ",
        "\n",
        "\t",
        "x",
        "\u{1}",
        "é",
    ];
    let edits = vec((any::<Index>(), 0..3u8, prop::sample::select(TOKENS)), 0..4);
    let number = "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{0,22})?([eE][+-]?[0-9]{1,11})?";
    let big = "[1-9][0-9]{15,20}(\\.[0-9]{1,6})?[eE]\\+?(2[89][0-9]|30[0-9]|31[0-9])";
    prop_oneof![
        (any_json(), edits).prop_map(|(value, edits)| {
            let mut chars: Vec<char> = match value {
                Value::Object(_) => value.to_string(),
                other => format!("{{\"k\":{other}}}"),
            }
            .chars()
            .collect();
            for (at, how, token) in edits {
                let at = at.index(chars.len() + 1);
                match how {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.truncate(at),
                    _ => {
                        chars.splice(at..at, token.chars());
                    }
                }
            }
            chars.into_iter().collect()
        }),
        vec(prop::sample::select(TOKENS), 0..16).prop_map(|tokens| tokens.concat()),
        vec(prop::sample::select(TOKENS), 0..16)
            .prop_map(|tokens| format!("{{\"k\":{}", tokens.concat())),
        prop_oneof![number, big].prop_map(|n| format!("{{\"n\":{n},\"m\":[{n}]}}")),
        prop_oneof![number, big],
        (120..135usize, any::<bool>()).prop_map(|(depth, arrays)| {
            let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
            format!("{{\"d\":{}1{}}}", open.repeat(depth), close.repeat(depth))
        }),
    ]
}
