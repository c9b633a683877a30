//! Helpers for the room's unit tests (here and in `presence`, `crate::object`).

use crate::config::Config;
use crate::outcome::{Admission, Effect, Effects};
use crate::protocol::Frame;
use crate::socket::{Attachment, ROOM_TAG};

use super::history::MemoryLog;
use super::Room;

/// A store with nothing in it, for a call whose history does not matter.
pub(crate) fn log() -> MemoryLog {
    MemoryLog::default()
}

pub(crate) fn room_with(names: &[&str]) -> (Room, Vec<String>) {
    let mut room = Room::new();
    let ids = names
        .iter()
        .enumerate()
        .map(|(i, name)| join_at(&mut room, name, i).id)
        .collect();
    (room, ids)
}

/// `name` joins `room` as its `i`-th member: join time 1000 + i, ids from
/// entropy `[i; 9]`.
pub(crate) fn join_at(room: &mut Room, name: &str, i: usize) -> Admission {
    room.join(
        "r",
        Some(name),
        None,
        None,
        1000 + i as u64,
        &[i as u8; 9],
        &mut log(),
    )
    .expect("join")
}

/// The effects of a text frame at t=5, minus the attachment update that
/// may end it.
pub(crate) fn frame(room: &mut Room, id: &str, text: &str) -> Effects {
    strip_attach(room.on_frame(id, Frame::Text(text), 5, &mut log()))
}

/// `effects` without the attachment update that may end them (see
/// `super::stored`), which is never anywhere else.
pub(crate) fn strip_attach(mut effects: Effects) -> Effects {
    if let Some(Effect::Attach { .. }) = effects.0.last() {
        effects.0.pop();
    }
    assert!(
        !effects.0.iter().any(|e| matches!(e, Effect::Attach { .. })),
        "an attach before the end: {effects:?}"
    );
    effects
}

pub(crate) fn error_code(effects: &Effects) -> Option<String> {
    match effects.0.as_slice() {
        [Effect::Reply { text }] => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned)),
        _ => None,
    }
}

/// The attachment, welcome and joined frame (if any) of an admission,
/// past its history effects (a new epoch, the `history` frame) and the
/// object's alarm, armed by a first join.
pub(crate) fn parts(admission: &Admission) -> (Attachment, String, Option<String>) {
    let room: Vec<Effect> = admission
        .effects
        .0
        .iter()
        .filter(|effect| match effect {
            Effect::Epoch { .. } | Effect::Replay { .. } | Effect::SetAlarm { .. } => false,
            Effect::Reply { text } => !text.starts_with(r#"{"type":"history""#),
            _ => true,
        })
        .cloned()
        .collect();
    match room.as_slice() {
        [Effect::Attach { attachment }, Effect::Reply { text: welcome }] => {
            (attachment.clone(), welcome.clone(), None)
        }
        [Effect::Attach { attachment }, Effect::Reply { text: welcome }, Effect::Send {
            tag,
            text: joined,
            skip_self: true,
            ..
        }] if tag == ROOM_TAG => (attachment.clone(), welcome.clone(), Some(joined.clone())),
        other => panic!("unexpected admission effects {other:?}"),
    }
}

pub(crate) fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    edit(&mut config);
    config
}

pub(crate) fn close_code(effects: &Effects) -> Option<u16> {
    effects.0.iter().find_map(|effect| match effect {
        Effect::Close { code, .. } => Some(code.get()),
        _ => None,
    })
}

pub(crate) fn announces_left(effects: &Effects) -> bool {
    effects.0.iter().any(|effect| {
        matches!(effect, Effect::Send { text, skip_self: true, .. } if text.contains(r#""type":"left""#))
    })
}

pub(crate) fn frame_pong() -> Effects {
    Effects(vec![Effect::Reply {
        text: r#"{"type":"pong"}"#.into(),
    }])
}

pub(crate) fn reply_text(effects: &Effects) -> &str {
    match effects.0.as_slice() {
        [Effect::Reply { text }] => text,
        other => panic!("expected one reply, got {other:?}"),
    }
}
