//! A room larger than one object: its shards.
//!
//! A room's first object, shard 0, is the one it always had:
//! `idFromName(room)`. When a room may hold more members than one object
//! (`MAX_CONNECTIONS_PER_ROOM` > `MAX_CONNECTIONS_PER_OBJECT`), shard 0
//! admits every upgrade: it keeps the member while it holds fewer than the
//! object cap and otherwise hands the upgrade to shard `k ≥ 1`, the object
//! named `{room}#{k}` (`#` is not allowed in a room name, so no room's
//! object has such a name, and the Worker never routes a request to one).
//!
//! Shard 0 is also the room's sequencer: every `say`, on any shard, is
//! numbered and stored in shard 0's history, then delivered to every shard
//! that has members ([`Registry::targets`]). A shard keeps the messages it
//! was delivered in its own history (the same table and rules) and
//! delivers a message to its sockets only if its seq is above the last it
//! stored, in the same event that stores it: a delivery retried after a
//! failed call, or sent again after an eviction, reaches nobody twice, and
//! one that arrives ahead of a missing one is refused with the seq the
//! shard needs ([`crate::room::history::Taken::need`]), which shard 0 sends from its history.
//! A shard's member therefore sees the room's messages in seq order, like
//! everyone else, and its joins and resumes are served from its own copy.
//!
//! What this module decides: an object's place from its name ([`Place`]),
//! member ids that carry their shard ([`shard_of_id`]), and shard 0's
//! [`Registry`] of its shards' member counts, from which it admits
//! ([`Registry::admit`]) and fans out. Counts are exact: a shard reports
//! its count with a version that only grows ([`Versions`]), with the answer
//! to an upgrade it accepted and after every departure, and shard 0 counts
//! an upgrade it handed over as taken until the answer comes.

use crate::text;

/// Between a room's name and a shard's number in the shard's object name.
pub const OBJECT_SEPARATOR: char = '#';

/// Between a shard's number and the rest of a member id on shards ≥ 1
/// (`3~AbCd…`): not base64url, so no id on shard 0 has it.
pub const ID_SEPARATOR: char = '~';

/// The response header with which a shard ≥ 1 answers the upgrade shard 0
/// handed it: `{members} {version}` (see [`Registry::forwarded`]). Shard 0
/// removes it before the answer reaches the client.
pub const COUNT_HEADER: &str = "X-Room-Shard-Count";

/// The request header with which shard 0 hands an upgrade to a shard: the
/// room's member count once this member is in, for its welcome. Only shard
/// 0 reaches a shard ≥ 1, so only shard 0 sets it.
pub const ROOM_COUNT_HEADER: &str = "X-Room-Count";

/// Which object of which room an object is, from its name (`ctx.id.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The room's name.
    pub room: String,
    /// 0 for the room's own object, `k` for `{room}#{k}`.
    pub shard: u32,
}

impl Place {
    /// The place an object named `name` has: `room#k` is shard `k` of
    /// `room`, any other name shard 0 of the room of that name.
    pub fn of(name: &str) -> Place {
        match name.rsplit_once(OBJECT_SEPARATOR) {
            Some((room, k)) => match whole(k) {
                Some(shard) if shard > 0 => Place {
                    room: room.to_owned(),
                    shard,
                },
                _ => Place::first(name),
            },
            None => Place::first(name),
        }
    }

    fn first(room: &str) -> Place {
        Place {
            room: room.to_owned(),
            shard: 0,
        }
    }

    /// The name of the object of shard `shard` of this room.
    pub fn object(&self, shard: u32) -> String {
        object_name(&self.room, shard)
    }
}

/// The name of the object of shard `shard` of `room`.
pub fn object_name(room: &str, shard: u32) -> String {
    match shard {
        0 => room.to_owned(),
        k => format!("{room}{OBJECT_SEPARATOR}{k}"),
    }
}

/// The shard a member id was given on: the number before `~`, 0 for an id
/// without one (or with anything else before it).
pub fn shard_of_id(id: &str) -> u32 {
    id.split_once(ID_SEPARATOR)
        .and_then(|(k, _)| whole(k))
        .unwrap_or(0)
}

/// `id` as given on shard `shard`.
pub fn id_on(shard: u32, id: String) -> String {
    match shard {
        0 => id,
        k => format!("{k}{ID_SEPARATOR}{id}"),
    }
}

/// A cursor (see [`crate::room::members::Cursor`]) before every member of
/// shard `shard`: no member joined at time 0, and ids of that shard start
/// with `{shard}~`.
pub fn start_of(shard: u32) -> String {
    format!("0.{shard}{ID_SEPARATOR}")
}

/// `text` as a shard number: decimal digits only, at most 9 of them.
fn whole(text: &str) -> Option<u32> {
    let n = text::whole(text).filter(|_| text.len() <= 9)?;
    u32::try_from(n).ok()
}

/// How many shards a room may need: enough objects of `per_object` for
/// `per_room` members.
pub fn most_shards(per_room: u32, per_object: u32) -> u32 {
    per_room.div_ceil(per_object.max(1)).max(1)
}

/// One shard's count as shard 0 stores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Its members, as it last reported.
    pub members: u64,
    /// The version of that report: a later one has a higher version.
    pub version: u64,
}

impl Count {
    /// Reads `{members} {version}` ([`COUNT_HEADER`]).
    pub fn parse(text: &str) -> Option<Count> {
        let (members, version) = text.trim().split_once(' ')?;
        Some(Count {
            members: text::whole(members)?,
            version: text::whole(version)?,
        })
    }

    /// As [`COUNT_HEADER`] carries it.
    pub fn header(&self) -> String {
        format!("{} {}", self.members, self.version)
    }
}

/// Versions for a shard's counts: each above the last, and above any an
/// earlier instance gave (they start from the clock, in thousandths of a
/// ms: an instance would have to report a thousand times in a millisecond
/// to run ahead of the next one's start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    last: u64,
}

impl Versions {
    /// The version of a count reported at `now` (ms).
    pub fn next(&mut self, now: u64) -> u64 {
        self.last = (self.last + 1).max(now.saturating_mul(1000));
        self.last
    }
}

/// Where shard 0 puts an upgrade (see [`Registry::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// In shard 0 itself.
    Here,
    /// Hand it to shard `shard`; `fresh` when that shard has no members
    /// (new, or emptied and so no longer delivered to): it must be brought
    /// up to date with the room's history first.
    Shard { shard: u32, fresh: bool },
    /// The room holds `MAX_CONNECTIONS_PER_ROOM`.
    Full,
}

/// Shard 0's view of the room's other shards: their last reported counts
/// (stored in its SQLite, so they survive its evictions) and the upgrades
/// it handed over whose answer has not come yet (memory: a request in
/// flight keeps the object alive). Indexed by shard (a room has at most
/// [`most_shards`] of them; index 0, shard 0 itself, stays empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    slots: Vec<Slot>,
}

/// One shard in the [`Registry`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// Its count as last reported; version 0 when it never reported.
    count: Count,
    /// Upgrades handed to it whose answer has not come.
    pending: u64,
}

impl Slot {
    fn held(&self) -> u64 {
        self.count.members + self.pending
    }
}

impl Registry {
    /// The registry as stored: `(shard, count)` rows.
    pub fn load(rows: impl IntoIterator<Item = (u32, Count)>) -> Registry {
        let mut registry = Registry::default();
        for (shard, count) in rows {
            if let Some(slot) = registry.slot(shard) {
                slot.count = count;
            }
        }
        registry
    }

    /// Shard `shard`'s slot, made if new (`None` for shard 0, and for a
    /// number no room can reach).
    fn slot(&mut self, shard: u32) -> Option<&mut Slot> {
        let index = usize::try_from(shard)
            .ok()
            .filter(|&i| i > 0 && i < 1 << 20)?;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, Slot::default());
        }
        self.slots.get_mut(index)
    }

    /// Members on shard `shard`, counting upgrades handed to it.
    pub fn held(&self, shard: u32) -> u64 {
        self.slots.get(shard as usize).map_or(0, Slot::held)
    }

    /// Members on the other shards, counting upgrades handed over.
    pub fn outside(&self) -> u64 {
        self.slots.iter().map(Slot::held).sum()
    }

    /// Where an upgrade goes when shard 0 holds `here` sockets, at most
    /// `per_object` per shard and `per_room` in all: shard 0 while it has
    /// room, else the lowest shard with room (an emptied one is filled
    /// again before a new one is made), never past the room cap. The
    /// chosen shard counts the upgrade until [`forwarded`](Self::forwarded).
    pub fn admit(&mut self, here: u64, per_object: u32, per_room: u32) -> Admit {
        if here + self.outside() >= u64::from(per_room) {
            return Admit::Full;
        }
        if here < u64::from(per_object) {
            return Admit::Here;
        }
        let most = most_shards(per_room, per_object);
        let Some(shard) = (1..most.max(2)).find(|&k| self.held(k) < u64::from(per_object)) else {
            return Admit::Full;
        };
        let fresh = self.held(shard) == 0;
        if let Some(slot) = self.slot(shard) {
            slot.pending += 1;
        }
        Admit::Shard { shard, fresh }
    }

    /// The answer to an upgrade handed to `shard` came, with the shard's
    /// count if it accepted it (`None`: refused, or the call failed). The
    /// count to store, if it is newer than the stored one.
    pub fn forwarded(&mut self, shard: u32, count: Option<Count>) -> Option<Count> {
        if let Some(slot) = self.slot(shard) {
            slot.pending = slot.pending.saturating_sub(1);
        }
        self.report(shard, count?)
    }

    /// Shard `shard` reported `count`: the count to store, if its
    /// members differ from the stored ones. A report older than the last
    /// one heard (reports may arrive out of order, or twice) changes
    /// nothing; a newer one with the same members only moves the version
    /// kept in memory, so that the answer of every delivery (which carries
    /// the shard's count) costs no write.
    pub fn report(&mut self, shard: u32, count: Count) -> Option<Count> {
        let slot = self.slot(shard)?;
        if count.version <= slot.count.version {
            return None;
        }
        let changed = count.members != slot.count.members || slot.count.version == 0;
        slot.count = count;
        changed.then_some(count)
    }

    /// The shards a message is delivered to: those with members, or with
    /// an upgrade on its way.
    pub fn targets(&self) -> Vec<u32> {
        self.numbered()
            .filter(|(_, slot)| slot.held() > 0)
            .map(|(k, _)| k)
            .collect()
    }

    /// The first shard after `shard` with members (where `who` goes on).
    pub fn next_after(&self, shard: u32) -> Option<u32> {
        self.numbered()
            .find(|(k, slot)| *k > shard && slot.count.members > 0)
            .map(|(k, _)| k)
    }

    /// Every shard shard 0 knows of, in order, with its stored count.
    pub fn shards(&self) -> impl Iterator<Item = (u32, Count)> + '_ {
        self.numbered()
            .filter(|(_, slot)| slot.count.version > 0 || slot.pending > 0)
            .map(|(k, slot)| (k, slot.count))
    }

    fn numbered(&self) -> impl Iterator<Item = (u32, &Slot)> + '_ {
        (0u32..).zip(&self.slots).skip(1)
    }
}

/// What an object is to its room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The room's only object: it may not span objects (the default
    /// configuration), or the object has no name to tell its place.
    #[default]
    Alone,
    /// Shard 0 of a room that may span objects: it admits, sequences, and
    /// keeps the registry of the other shards.
    Leader { place: Place, registry: Registry },
    /// Shard `place.shard` ≥ 1.
    Follower {
        place: Place,
        versions: Versions,
        /// The room's member count as shard 0 last told it (for welcomes).
        told: u64,
        /// Sent messages so far, for their keys (see [`publish_key`]).
        published: u64,
        /// When the instance started (ms), for their keys.
        started_at: u64,
    },
}

impl Role {
    /// The role of an object named `name` (`None`: unknown) in a room
    /// that `spans` objects or not, created at `now`, shard 0 with its
    /// stored `registry`.
    pub fn of(name: Option<&str>, spans: bool, now: u64, registry: Registry) -> Role {
        let Some(place) = name.filter(|_| spans).map(Place::of) else {
            return Role::Alone;
        };
        match place.shard {
            0 => Role::Leader { place, registry },
            _ => Role::Follower {
                place,
                versions: Versions {
                    last: now.saturating_mul(1000),
                },
                told: 0,
                published: 0,
                started_at: now,
            },
        }
    }

    /// The shard this object is (0 unless a follower).
    pub fn shard(&self) -> u32 {
        match self {
            Role::Follower { place, .. } => place.shard,
            _ => 0,
        }
    }

    /// Whether the room may span objects.
    pub fn spans(&self) -> bool {
        !matches!(self, Role::Alone)
    }

    /// The room's place of shard 0 (where a follower publishes, reports
    /// and asks), `None` when alone.
    pub fn place(&self) -> Option<&Place> {
        match self {
            Role::Alone => None,
            Role::Leader { place, .. } | Role::Follower { place, .. } => Some(place),
        }
    }
}

/// The key of the `published`-th message a follower instance started at
/// `started_at` sends to shard 0: the same for every retry of one message,
/// never the same for two (shard and instance start tell instances
/// apart), so shard 0 stores a retried message once.
pub fn publish_key(shard: u32, started_at: u64, published: u64) -> String {
    format!("{shard}.{started_at}.{published}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_from_object_names() {
        let place = |room: &str, shard| Place {
            room: room.into(),
            shard,
        };
        assert_eq!(Place::of("lobby"), place("lobby", 0));
        assert_eq!(Place::of("lobby#3"), place("lobby", 3));
        assert_eq!(Place::of("a#b#12"), place("a#b", 12));
        for name in [
            "lobby#",
            "lobby#0",
            "lobby#x",
            "lobby#-1",
            "lobby#1234567890",
        ] {
            assert_eq!(Place::of(name), place(name, 0), "{name}");
        }
        assert_eq!(place("lobby", 3).object(3), "lobby#3");
        assert_eq!(place("lobby", 3).object(0), "lobby");
        assert_eq!(Place::of(&object_name("r", 7)), place("r", 7));
    }

    #[test]
    fn ids_carry_their_shard() {
        assert_eq!(id_on(0, "AbCdEfGh".into()), "AbCdEfGh");
        assert_eq!(id_on(4, "AbCdEfGh".into()), "4~AbCdEfGh");
        for (id, shard) in [
            ("AbCdEfGh", 0),
            ("4~AbCd", 4),
            ("~x", 0),
            ("x~y", 0),
            ("", 0),
            ("12~", 12),
        ] {
            assert_eq!(shard_of_id(id), shard, "{id}");
        }
        assert_eq!(shard_of_id(&start_of(5)[2..]), 5);
    }

    #[test]
    fn counts_read_back_and_versions_only_grow() {
        let count = Count {
            members: 3,
            version: 1_700_000_000_000_001,
        };
        assert_eq!(Count::parse(&count.header()), Some(count));
        for bad in ["", "3", "3 x", "-1 2", "3  4"] {
            assert_eq!(Count::parse(bad), None, "{bad:?}");
        }
        let mut versions = Versions::default();
        let a = versions.next(5);
        let b = versions.next(5);
        let c = versions.next(4);
        assert!(a < b && b < c, "{a} {b} {c}");
        let mut later = Versions::default();
        assert!(later.next(6) > c);
    }

    #[test]
    fn admits_here_then_the_lowest_shard_with_room_and_never_past_the_room_cap() {
        let mut registry = Registry::default();
        // Object cap 3, room cap 10: shard 0 first.
        assert_eq!(registry.admit(0, 3, 10), Admit::Here);
        assert_eq!(registry.admit(2, 3, 10), Admit::Here);
        // Shard 0 full: shard 1, fresh, counted before its answer.
        assert_eq!(
            registry.admit(3, 3, 10),
            Admit::Shard {
                shard: 1,
                fresh: true
            }
        );
        assert_eq!(
            registry.admit(3, 3, 10),
            Admit::Shard {
                shard: 1,
                fresh: false
            }
        );
        assert_eq!(registry.outside(), 2);
        assert_eq!(registry.targets(), [1]);
        // One answer accepted (count 1), one refused.
        let one = Count {
            members: 1,
            version: 10,
        };
        assert_eq!(registry.forwarded(1, Some(one)), Some(one));
        assert_eq!(registry.forwarded(1, None), None);
        assert_eq!(registry.outside(), 1);
        for _ in 0..2 {
            assert!(matches!(
                registry.admit(3, 3, 10),
                Admit::Shard { shard: 1, .. }
            ));
        }
        assert_eq!(
            registry.admit(3, 3, 10),
            Admit::Shard {
                shard: 2,
                fresh: true
            }
        );
        assert_eq!(registry.outside(), 4);
        // 3 here + 4 outside + 3 more = 10: full at the room cap, exactly.
        for _ in 0..3 {
            assert!(matches!(registry.admit(3, 3, 10), Admit::Shard { .. }));
        }
        assert_eq!(registry.admit(3, 3, 10), Admit::Full);
        // A place freed in shard 0 is taken there.
        assert_eq!(registry.admit(2, 3, 10), Admit::Here);
        // The room cap is never passed, even when shards have room.
        let mut small = Registry::default();
        assert_eq!(
            small.admit(3, 3, 4),
            Admit::Shard {
                shard: 1,
                fresh: true
            }
        );
        assert_eq!(small.admit(3, 3, 4), Admit::Full);
    }

    #[test]
    fn an_emptied_shard_is_filled_again_first() {
        let mut registry = Registry::load([
            (
                1,
                Count {
                    members: 0,
                    version: 5,
                },
            ),
            (
                2,
                Count {
                    members: 2,
                    version: 5,
                },
            ),
        ]);
        assert_eq!(registry.targets(), [2]);
        assert_eq!(registry.next_after(0), Some(2));
        assert_eq!(
            registry.admit(3, 3, 100),
            Admit::Shard {
                shard: 1,
                fresh: true
            }
        );
        assert_eq!(registry.targets(), [1, 2]);
    }

    #[test]
    fn reports_apply_only_when_newer() {
        let mut registry = Registry::default();
        let at = |members, version| Count { members, version };
        assert_eq!(registry.report(2, at(5, 10)), Some(at(5, 10)));
        assert_eq!(registry.report(2, at(9, 9)), None);
        assert_eq!(registry.report(2, at(5, 10)), None);
        assert_eq!(registry.report(2, at(4, 11)), Some(at(4, 11)));
        assert_eq!(registry.report(0, at(4, 12)), None);
        // Same members, newer: nothing to store, but an older report that
        // arrives after it no longer applies.
        assert_eq!(registry.report(2, at(4, 13)), None);
        assert_eq!(registry.report(2, at(7, 12)), None);
        assert_eq!(registry.held(2), 4);
        assert_eq!(registry.outside(), 4);
        // A count of 0 stops deliveries.
        assert_eq!(registry.report(2, at(0, 14)), Some(at(0, 14)));
        assert!(registry.targets().is_empty());
    }

    #[test]
    fn most_shards_covers_the_room() {
        assert_eq!(most_shards(10, 3), 4);
        assert_eq!(most_shards(1_000_000, 32_768), 31);
        assert_eq!(most_shards(1, 3), 1);
        assert_eq!(most_shards(5, 0), 5);
    }
}
