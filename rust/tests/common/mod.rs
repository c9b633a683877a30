//! What the property tests share: bounded runs, input generators, and the
//! invariants every decision must keep.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

use websocket_hibernation_server::close::{CloseCode, MAX_REASON_BYTES};
use websocket_hibernation_server::error::HttpError;
use websocket_hibernation_server::outcome::{Effect, Effects, HttpResponse};

/// 256 cases per property, or `PROPTEST_CASES`; no failure files.
pub fn bounded() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            256
        },
        failure_persistence: None,
        ..default
    }
}

/// Any string: arbitrary Unicode, bytes read as lossy UTF-8, or printable
/// ASCII rich in the characters parsers split on.
pub fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ -~]{0,40}",
        "[a-z0-9:/?#&=%+.\\[\\]@ ,_-]{0,40}",
        Just(String::new()),
    ]
}

/// Any JSON value, nested a little.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            vec((any_text(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A field value for a frame: usually a string, sometimes any JSON, sometimes absent.
pub fn field() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        6 => any_text().prop_map(|s| Some(Value::from(s))),
        1 => "[a-zA-Z]{1,12}".prop_map(|s| Some(Value::from(s))),
        1 => any_json().prop_map(Some),
        1 => Just(None),
    ]
}

/// How a frame names a whisper's recipient.
#[derive(Clone, Debug)]
pub enum To {
    /// A member of the room, picked when the frame is sent.
    Member(Index),
    /// Any JSON value (or nothing).
    Raw(Option<Value>),
    /// A `who` cursor (`{joined_at}.{id}`) at a member's id and any join
    /// time, as a roster's `next` or one after its member left.
    Cursor(u64, Index),
}

/// Every client frame `type`: a new `ClientFrame` variant adds its own here.
pub const KINDS: &[&str] = &["say", "whisper", "hello", "who", "ping", "typing"];

/// The string fields of client frames, besides `to` and `after` (which name
/// members and cursors): a new field name is added here.
pub const FIELDS: &[&str] = &["text", "name"];

/// A client text frame: JSON shaped like each frame type with arbitrary
/// field values, sometimes cut short, or any text at all.
#[derive(Clone, Debug)]
pub enum TextFrame {
    Shaped {
        kind: Value,
        /// A value (or nothing) for each of [`FIELDS`].
        fields: Vec<Option<Value>>,
        to: To,
        /// `who`'s cursor: a member's id, any JSON, or absent (boxed: the
        /// variant is large enough).
        after: Box<To>,
        extra: Option<(String, Value)>,
        cut: Option<Index>,
    },
    Raw(String),
}

/// Boxed: its value tree is large, and unboxed inside [`op`] it overflows
/// the test thread's stack.
pub fn text_frame() -> BoxedStrategy<TextFrame> {
    let kind = prop_oneof![
        8 => prop::sample::select(KINDS).prop_map(Value::from),
        1 => any_json(),
    ];
    let to = prop_oneof![
        3 => any::<Index>().prop_map(To::Member),
        1 => field().prop_map(To::Raw),
    ];
    let after = prop_oneof![
        2 => Just(To::Raw(None)),
        1 => any::<Index>().prop_map(To::Member),
        2 => (prop_oneof![0u64..5_000, any::<u64>()], any::<Index>())
            .prop_map(|(at, i)| To::Cursor(at, i)),
        1 => field().prop_map(To::Raw),
    ];
    prop_oneof![
        6 => (
            kind,
            vec(field(), FIELDS.len()),
            to,
            after,
            prop::option::weighted(0.2, (any_text(), any_json())),
            prop::option::weighted(0.1, any::<Index>()),
        )
            .prop_map(|(kind, fields, to, after, extra, cut)| TextFrame::Shaped {
                kind,
                fields,
                to,
                after: Box::new(after),
                extra,
                cut,
            }),
        1 => any_text().prop_map(TextFrame::Raw),
    ]
    .boxed()
}

impl TextFrame {
    pub fn render(&self, members: &[String]) -> String {
        let TextFrame::Shaped {
            kind,
            fields,
            to,
            after,
            extra,
            cut,
        } = self
        else {
            let TextFrame::Raw(text) = self else {
                unreachable!()
            };
            return text.clone();
        };
        let mut object = Map::new();
        if let Some((key, value)) = extra {
            object.insert(key.clone(), value.clone());
        }
        object.insert("type".into(), kind.clone());
        for (key, value) in FIELDS.iter().zip(fields) {
            if let Some(value) = value {
                object.insert((*key).into(), value.clone());
            }
        }
        let member = |to: &To| match to {
            To::Member(i) if !members.is_empty() => Some(Value::from(i.get(members).clone())),
            To::Member(_) => None,
            To::Raw(value) => value.clone(),
            To::Cursor(at, i) => Some(Value::from(match members.is_empty() {
                true => format!("{at}.gone"),
                false => format!("{at}.{}", i.get(members)),
            })),
        };
        if let Some(to) = member(to) {
            object.insert("to".into(), to);
        }
        if let Some(after) = member(after) {
            object.insert("after".into(), after);
        }
        let json = Value::Object(object).to_string();
        match cut {
            Some(i) => {
                let mut end = i.index(json.len() + 1);
                while !json.is_char_boundary(end) {
                    end -= 1;
                }
                json[..end].to_owned()
            }
            None => json,
        }
    }
}

/// A clock step: mostly forwards, sometimes backwards, sometimes anywhere.
pub fn tick() -> impl Strategy<Value = Tick> {
    prop_oneof![
        8 => (-2_000i64..5_000).prop_map(Tick::By),
        1 => any::<u64>().prop_map(Tick::To),
    ]
}

#[derive(Clone, Copy, Debug)]
pub enum Tick {
    By(i64),
    To(u64),
}

impl Tick {
    pub fn apply(self, now: u64) -> u64 {
        match self {
            Tick::By(delta) => now.saturating_add_signed(delta),
            Tick::To(at) => at,
        }
    }
}

pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

/// A valid `RATE_LIMIT_PER_SECOND`: 0.001 to 1000000, at most 3 decimals.
pub fn rate_text() -> impl Strategy<Value = String> {
    prop_oneof![1u32..5_000, 1u32..=1_000_000_000].prop_map(|milli| match milli % 1000 {
        0 => format!("{}", milli / 1000),
        fraction => format!("{}.{fraction:03}", milli / 1000),
    })
}

/// A rate's value in thousandths, read independently of `Rate::parse`.
pub fn milli(rate: &str) -> u64 {
    let (whole, fraction) = rate.split_once('.').unwrap_or((rate, ""));
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().expect("digits")
    };
    whole * 1000 + format!("{fraction:0<3}").parse::<u64>().expect("digits")
}

/// Every close can be sent: `WebSocket.close()` throws on a reserved code
/// or a reason over 123 bytes.
pub fn check_closes(effects: &Effects) -> Result<(), TestCaseError> {
    for effect in &effects.0 {
        if let Effect::Close { code, reason } | Effect::Expel { code, reason, .. } = effect {
            prop_assert!(
                CloseCode::new(code.get()).is_some(),
                "unsendable close code {}",
                code.get()
            );
            prop_assert!(
                reason.len() <= MAX_REASON_BYTES,
                "reason too long: {reason:?}"
            );
        }
    }
    Ok(())
}

/// A server frame is a JSON object with a string `type`.
pub fn check_server_frame(text: &str) -> Result<(), TestCaseError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text:?}")))?;
    prop_assert!(value["type"].is_string(), "no \"type\": {text}");
    Ok(())
}

pub fn closes(effects: &Effects) -> bool {
    effects.0.iter().any(|e| matches!(e, Effect::Close { .. }))
}

/// An HTTP response: a known status, and JSON when it says so.
pub fn check_response(response: &HttpResponse) -> Result<(), TestCaseError> {
    prop_assert!(
        [200, 400, 401, 403, 405, 426, 429, 500, 503].contains(&response.status),
        "status {}",
        response.status
    );
    prop_assert!(!response.status_text.is_empty());
    let json = response
        .headers
        .iter()
        .any(|(k, v)| k == "Content-Type" && v.starts_with("application/json"));
    if json {
        let body = response.body.as_deref().unwrap_or_default();
        let value: Value = serde_json::from_str(body)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {body:?}")))?;
        if response.status != 200 {
            prop_assert!(value["error"]["code"].is_string(), "{body}");
        }
    }
    Ok(())
}

pub fn check_server_json(error: &HttpError) -> Result<(), TestCaseError> {
    let body: Value = serde_json::from_str(&error.to_json())
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    prop_assert_eq!(body["error"]["code"].as_str(), Some(error.code()));
    Ok(())
}

/// A close code as the runtime reports it: often one of RFC 6455's
/// 1000–1015 (the reserved 1005, 1006, 1015 included), else any.
pub fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![1 => 1000u16..=1015, 1 => any::<u16>()]
}
