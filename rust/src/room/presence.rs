//! Presence: who a new member is told is there, who hears of joins, leaves
//! and renames, and how `who` pages through the room.
//!
//! Everything is bounded by `PRESENCE_LIMIT`: a welcome or a roster page
//! lists at most that many peers, and `joined`/`left`/`renamed` go to
//! everyone only while the room holds at most that many members, so that
//! a join in a room of thousands costs one frame, not one per member.

use crate::error::Error;
use crate::protocol::{Peer, ServerFrame};
use crate::socket::Attachment;

use super::members::{Cursor, Members};

/// Whether presence changes are pushed to everyone in a room of `len`
/// members: only while it holds at most `limit`.
pub fn pushes(len: usize, limit: usize) -> bool {
    len <= limit
}

/// The welcome's list for member `id`: itself and the first `limit − 1`
/// others, in join order. O(limit + log n).
pub fn welcome_roster(members: &Members, limit: usize, id: &str) -> Vec<Peer> {
    let Some(me) = members.get(id) else {
        return Vec::new();
    };
    let mut list: Vec<&Attachment> = members
        .iter()
        .filter(|m| m.id != id)
        .take(limit.saturating_sub(1))
        .collect();
    let at = list.partition_point(|m| (m.joined_at, &m.id) < (me.joined_at, &me.id));
    list.insert(at, me);
    list.into_iter().map(peer).collect()
}

/// A page of the roster: the first `limit` members in join order, or the
/// ones after the cursor `after` (a roster's `next`); `next` is the cursor
/// of the following page. A cursor is a place in the join order, not a
/// member: it stays valid when its member leaves, so paging through a busy
/// room never starts over. O(limit + log n).
pub fn who(members: &Members, limit: usize, after: Option<&str>) -> Result<ServerFrame, Error> {
    let (connections, next) = page_after(members, limit, after)?;
    Ok(ServerFrame::Roster {
        count: u32::try_from(members.len()).unwrap_or(u32::MAX),
        connections,
        next,
    })
}

/// The page of [`who`]: its peers, and the cursor of the next page.
pub fn page_after(
    members: &Members,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<Peer>, Option<String>), Error> {
    match after {
        None => Ok(page(members.iter(), limit)),
        Some(after) => match Cursor::parse(after) {
            Some(cursor) => Ok(page(members.after(cursor), limit)),
            None => Err(Error::UnknownCursor {
                after: after.chars().take(64).collect(),
            }),
        },
    }
}

/// A member as others see it.
pub fn peer(member: &Attachment) -> Peer {
    Peer {
        id: member.id.clone(),
        name: member.name.clone(),
    }
}

/// The first `limit` of `members`, and the cursor just after the last one
/// if more follow.
fn page<'a>(
    members: impl Iterator<Item = &'a Attachment>,
    limit: usize,
) -> (Vec<Peer>, Option<String>) {
    let mut members = members.peekable();
    let mut connections = Vec::new();
    let mut last = None;
    for member in members.by_ref().take(limit) {
        connections.push(peer(member));
        last = Some(member);
    }
    let next = match members.peek() {
        Some(_) => last.map(Cursor::at),
        None => None,
    };
    (connections, next)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Room;
    use crate::error::Error;
    use crate::outcome::{Effect, Effects};
    use crate::protocol::ServerFrame;
    use crate::socket::Attachment;

    /// A room with `PRESENCE_LIMIT = limit`, history off, and `names`
    /// joined in order (ids from entropy `[i; 9]`, join times 1000 + i).
    fn limited(limit: u32, names: &[&str]) -> (Room, Vec<String>) {
        let mut room = Room::with_config(config(|c| {
            c.presence_limit = limit;
            c.history_limit = 0;
        }));
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, name)| join_at(&mut room, name, i).id)
            .collect();
        (room, ids)
    }

    fn peers(ids: &[&String], names: &[&str]) -> String {
        let list: Vec<String> = ids
            .iter()
            .zip(names)
            .map(|(id, name)| format!(r#"{{"id":"{id}","name":"{name}"}}"#))
            .collect();
        list.join(",")
    }

    #[test]
    fn at_the_limit_welcome_lists_everyone_and_joined_carries_the_count() {
        let (mut room, ids) = limited(3, &["Ada", "Bob"]);
        let cy = join_at(&mut room, "Cy", 2);
        let (_, welcome, joined) = parts(&cy);
        assert_eq!(
            welcome,
            format!(
                r#"{{"type":"welcome","id":"{}","room":"r","count":3,"presence_limit":3,"connections":[{}]}}"#,
                cy.id,
                peers(&[&ids[0], &ids[1], &cy.id], &["Ada", "Bob", "Cy"])
            )
        );
        assert_eq!(
            joined,
            Some(format!(
                r#"{{"type":"joined","id":"{}","name":"Cy","count":3}}"#,
                cy.id
            ))
        );
    }

    #[test]
    fn above_the_limit_welcome_lists_self_and_the_first_others_and_nobody_is_told() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        for (i, name) in [(2, "Cy"), (3, "Dee")] {
            let admission = join_at(&mut room, name, i);
            let (_, welcome, joined) = parts(&admission);
            assert_eq!(
                welcome,
                format!(
                    r#"{{"type":"welcome","id":"{}","room":"r","count":{},"presence_limit":2,"connections":[{}]}}"#,
                    admission.id,
                    i + 1,
                    peers(&[&ids[0], &admission.id], &["Ada", name])
                )
            );
            assert_eq!(joined, None, "{name}");
        }
        // With a limit of 1 the list is the newcomer alone.
        let (mut room, _) = limited(1, &["Ada"]);
        let bob = join_at(&mut room, "Bob", 1);
        let (_, welcome, joined) = parts(&bob);
        assert!(welcome.ends_with(&format!(
            r#""count":2,"presence_limit":1,"connections":[{}]}}"#,
            peers(&[&bob.id], &["Bob"])
        )));
        assert_eq!(joined, None);
    }

    #[test]
    fn left_is_sent_only_once_the_room_is_back_within_the_limit() {
        let (mut room, ids) = limited(2, &["Ada", "Bob", "Cy", "Dee"]);
        assert_eq!(
            room.on_close(&ids[3], 1006, None),
            Effects::from(Effect::answer_close(1006))
        );
        assert_eq!(
            room.leave(&ids[2]),
            Effects(vec![Effect::broadcast(
                format!(
                    r#"{{"type":"left","id":"{}","name":"Cy","count":2}}"#,
                    ids[2]
                ),
                true
            )])
        );
        assert_eq!(
            room.leave(&ids[1]),
            Effects(vec![Effect::broadcast(
                format!(
                    r#"{{"type":"left","id":"{}","name":"Bob","count":1}}"#,
                    ids[1]
                ),
                true
            )])
        );
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn renamed_goes_to_everyone_within_the_limit_and_to_the_renamer_above_it() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        let hello = r#"{"type":"hello","name":"Grace"}"#;
        let renamed = format!(r#"{{"type":"renamed","id":"{}","name":"Grace"}}"#, ids[0]);
        assert_eq!(
            frame(&mut room, &ids[0], hello),
            Effects(vec![Effect::broadcast(renamed.clone(), false)])
        );
        join_at(&mut room, "Cy", 2);
        let hello = r#"{"type":"hello","name":"Grace"}"#;
        assert_eq!(
            frame(&mut room, &ids[0], hello),
            Effects(vec![Effect::Reply { text: renamed }])
        );
    }

    #[test]
    fn who_pages_through_a_large_room_with_next_as_the_cursor() {
        let names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
        let (mut room, ids) = limited(2, &names);
        let who = |after: Option<&String>| match after {
            None => r#"{"type":"who"}"#.to_owned(),
            Some(cursor) => format!(r#"{{"type":"who","after":"{cursor}"}}"#),
        };
        let first = frame(&mut room, &ids[4], &who(None));
        let next = roster_next(&first).expect("a first page with next");
        assert_eq!(
            reply_text(&first),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[0], &ids[1]], &names[..2]),
            )
        );
        let second = frame(&mut room, &ids[4], &who(Some(&next)));
        let next = roster_next(&second).expect("a second page with next");
        assert_eq!(
            reply_text(&second),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[2], &ids[3]], &names[2..4]),
            )
        );
        let last = frame(&mut room, &ids[4], &who(Some(&next)));
        assert_eq!(
            reply_text(&last),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}]}}"#,
                peers(&[&ids[4]], &names[4..])
            )
        );
        // Following `next` from the start visits everyone once, in join
        // order, also after members left and the room was rebuilt from its
        // attachments (as after an eviction).
        room.leave(&ids[1]);
        room.leave(&ids[2]);
        let mut woken = Room::with_config(room.config().clone());
        let mut attachments: Vec<Attachment> = room.members.iter().cloned().collect();
        attachments.reverse();
        for attachment in attachments {
            woken.restore(attachment);
        }
        assert_eq!(
            listing(&woken, |_| {}),
            [ids[0].clone(), ids[3].clone(), ids[4].clone()]
        );
    }

    #[test]
    fn a_cursor_outlives_its_member_so_paging_never_starts_over() {
        let names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
        let (mut room, ids) = limited(2, &names);
        let first = frame(&mut room, &ids[0], r#"{"type":"who"}"#);
        let next = roster_next(&first).expect("a first page with next");
        // Bob, the last of the first page (the cursor's member), and Cy, the
        // first of the next, leave; Fay joins.
        room.leave(&ids[1]);
        room.leave(&ids[2]);
        let fay = join_at(&mut room, "Fay", 5).id;
        let text = format!(r#"{{"type":"who","after":"{next}"}}"#);
        let second = frame(&mut room, &ids[0], &text);
        let next = roster_next(&second).expect("a second page with next");
        assert_eq!(
            reply_text(&second),
            format!(
                r#"{{"type":"roster","count":4,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[3], &ids[4]], &names[3..5]),
            )
        );
        let text = format!(r#"{{"type":"who","after":"{next}"}}"#);
        assert_eq!(
            reply_text(&frame(&mut room, &ids[0], &text)),
            format!(
                r#"{{"type":"roster","count":4,"connections":[{}]}}"#,
                peers(&[&fay], &["Fay"]),
            )
        );
    }

    #[test]
    fn a_listing_under_churn_sees_everyone_who_stayed_exactly_once() {
        // Between every two pages the oldest remaining member leaves and a
        // new one joins: those present throughout are all listed, once each.
        let names: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (mut room, ids) = limited(3, &names);
        let mut gone = Vec::new();
        let mut joined = 0;
        let seen = listing_with(&mut room, |room| {
            let oldest = room.members.iter().next().map(|m| m.id.clone());
            if let Some(oldest) = oldest {
                room.leave(&oldest);
                gone.push(oldest);
            }
            join_at(room, &format!("new{joined}"), 50 + joined);
            joined += 1;
        });
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "listed twice: {seen:?}");
        for id in ids.iter().filter(|id| !gone.contains(id)) {
            assert!(seen.contains(id), "{id} stayed but was not listed");
        }
    }

    #[test]
    fn who_within_the_limit_is_one_page_without_next() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        assert_eq!(
            reply_text(&frame(&mut room, &ids[0], r#"{"type":"who"}"#)),
            format!(
                r#"{{"type":"roster","count":2,"connections":[{}]}}"#,
                peers(&[&ids[0], &ids[1]], &["Ada", "Bob"])
            )
        );
    }

    #[test]
    fn who_after_anything_but_a_cursor_is_unknown_cursor() {
        let (mut room, ids) = limited(2, &["Ada", "Bob", "Cy"]);
        // A member id is not a cursor; nor are cursors with a part missing
        // or a join time that is not a number.
        for after in [
            ids[1].as_str(),
            "",
            ".",
            "12.",
            ".abc",
            "-1.abc",
            "1e3.abc",
            "99999999999999999999999.abc",
        ] {
            let text = format!(r#"{{"type":"who","after":"{after}"}}"#);
            assert_eq!(
                reply_text(&frame(&mut room, &ids[0], &text)),
                format!(
                    r#"{{"type":"error","code":"unknown_cursor","message":"\"{after}\" is not a cursor from a roster's \"next\"; ask who again without \"after\""}}"#,
                ),
                "{after}"
            );
        }
        let long = format!(r#"{{"type":"who","after":"{}"}}"#, "x".repeat(500));
        assert_eq!(
            room.who(Some(&"x".repeat(500))),
            Err(Error::UnknownCursor {
                after: "x".repeat(64)
            })
        );
        assert_eq!(
            error_code(&frame(&mut room, &ids[0], &long)).as_deref(),
            Some("unknown_cursor")
        );
        // A well-formed cursor is a place in the join order whether or not
        // this server wrote it (a place outlives its member, so a cursor
        // cannot be checked against the room): one before everyone is the
        // first page, one past everyone the empty last page. It shows no
        // more than `who` from the start does.
        let Ok(ServerFrame::Roster {
            connections, next, ..
        }) = room.who(Some("0.made-up"))
        else {
            panic!("expected a roster");
        };
        assert_eq!(
            (connections.len(), next.is_some()),
            (2, true),
            "the first page"
        );
        // And past everyone:
        assert_eq!(
            room.who(Some(&format!("{}.zzz", u64::MAX))),
            Ok(ServerFrame::Roster {
                count: 3,
                connections: Vec::new(),
                next: None
            })
        );
    }

    fn roster_next(effects: &Effects) -> Option<String> {
        match serde_json::from_str::<ServerFrame>(reply_text(effects)) {
            Ok(ServerFrame::Roster { next, .. }) => next,
            _ => None,
        }
    }

    /// The ids a listing that follows `next` from the start sees.
    fn listing(room: &Room, mut between: impl FnMut(&Room)) -> Vec<String> {
        let mut room = room.clone();
        listing_with(&mut room, |room| between(room))
    }

    /// The same, calling `between` before each page after the first.
    fn listing_with(room: &mut Room, mut between: impl FnMut(&mut Room)) -> Vec<String> {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for page in 0.. {
            assert!(page < 100, "the listing does not end");
            if page > 0 {
                between(room);
            }
            let Ok(ServerFrame::Roster {
                connections, next, ..
            }) = room.who(after.as_deref())
            else {
                panic!("expected a roster");
            };
            assert!(connections.len() <= room.presence_limit());
            seen.extend(connections.into_iter().map(|p| p.id));
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        seen
    }
}
