//! A room on several objects: what a shard's room does beyond what one
//! object's does (the rules are in [`crate::shard`]).
//!
//! Shard 0 (the leader) admits and hands over upgrades, numbers every
//! message and delivers it to the other shards, keeps their counts, and
//! answers `who` for the whole room. A shard ≥ 1 (a follower) sends its
//! members' messages to shard 0, stores and delivers what shard 0 sends
//! it, and reports its count after every change.

use serde::Serialize;
use tsify::Tsify;

use super::history::{Failure, Log, Taken};
use super::members::Cursor;
use super::{presence, unreached, Room};
use crate::outcome::{Effect, Effects};
use crate::protocol::ServerFrame;
use crate::shard::{self, Admit, Count, Role};

/// What shard 0 does to answer a `who` (see [`Room::plan_roster`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Plan {
    /// Send this frame.
    Done { text: String },
    /// Ask the shard whose object is `object` for its roster frame after
    /// `after` (its `page` method), with the room's `count` and the
    /// cursor `then` to go on with after its last member (`None`: none).
    Page {
        object: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        after: Option<String>,
        count: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        then: Option<String>,
    },
}

impl Room {
    /// The object of the shard that holds member `to`, if it is another
    /// shard of a room that spans objects (an id of a shard the room
    /// cannot have is nobody's: `None`, and the room says it does not
    /// hold it).
    pub(super) fn elsewhere(&self, to: &str) -> Option<String> {
        let place = self.role.place()?;
        let shard = shard::shard_of_id(to);
        let most = shard::most_shards(
            self.config.max_connections_per_room,
            self.config.max_connections_per_object,
        );
        (shard != self.role.shard() && shard < most).then(|| place.object(shard))
    }

    /// A shard ≥ 1: member `id`'s message goes to shard 0 to be numbered;
    /// it comes back with every other in [`take`](Self::take).
    pub(super) fn publish(&mut self, id: String, name: String, text: String, now: u64) -> Effects {
        let Role::Follower {
            place,
            published,
            started_at,
            ..
        } = &mut self.role
        else {
            return Effects::default();
        };
        *published += 1;
        Effect::Publish {
            object: place.object(0),
            key: shard::publish_key(place.shard, *started_at, *published),
            id,
            name,
            text,
            ts: now,
        }
        .into()
    }

    /// Shard 0: the effects of a message just stored, `said`, and its
    /// delivery to every other shard with members.
    pub(super) fn deliveries(&mut self, mut said: Effects, log: &mut impl Log) -> Effects {
        let Role::Leader { place, registry } = &self.role else {
            return said;
        };
        let targets = registry.targets();
        if targets.is_empty() {
            return said;
        }
        let Ok((epoch, last)) = self.history.head(log) else {
            return said;
        };
        for shard in targets {
            said.push(Effect::Deliver {
                object: place.object(shard),
                epoch: epoch.clone(),
                after: last - 1,
                count: 1,
            });
        }
        said
    }

    /// Shard 0: a message that member `id` (`name`) of another shard sent
    /// at `ts` with `key`. Numbered, stored and delivered like a `say` here;
    /// a key already stored (the call was retried) is not stored again.
    #[allow(clippy::too_many_arguments)]
    pub fn published(
        &mut self,
        key: String,
        id: String,
        name: String,
        text: String,
        ts: u64,
        now: u64,
        log: &mut impl Log,
    ) -> Result<Effects, Failure> {
        if !matches!(self.role, Role::Leader { .. }) || self.history.holds(log, &key)? {
            return Ok(Effects::default());
        }
        let message = |seq| {
            ServerFrame::Message {
                id,
                name,
                text,
                ts,
                seq,
            }
            .to_json()
        };
        let said = self.history.store(log, now, Some(key), message)?;
        Ok(self.deliveries(said, log))
    }

    /// Shard 0: the shard whose object is `object` answered a delivery
    /// with its `count` (a report that may have been lost comes again with
    /// every delivery), and, if it took nothing, the seq `need` it holds
    /// (it was sent one after a gap, or is new): the kept messages after it.
    pub fn delivered(
        &mut self,
        object: &str,
        need: Option<u64>,
        count: Option<Count>,
        log: &mut impl Log,
    ) -> Result<Effects, Failure> {
        let shard = shard::Place::of(object).shard;
        let Role::Leader { registry, .. } = &mut self.role else {
            return Ok(Effects::default());
        };
        let mut effects = register(shard, count.and_then(|count| registry.report(shard, count)));
        let Some(need) = need else {
            return Ok(effects);
        };
        let (epoch, last) = self.history.head(log)?;
        if need < last {
            let count = (last - need).min(u64::from(self.config.history_limit));
            effects.push(Effect::Deliver {
                object: object.to_owned(),
                epoch,
                after: need,
                count: u32::try_from(count).unwrap_or(u32::MAX),
            });
        }
        Ok(effects)
    }

    /// A shard ≥ 1: what it does with the messages `seqs` shard 0
    /// delivered (see [`History::take`]).
    ///
    /// [`History::take`]: super::history::History::take
    pub fn take(
        &mut self,
        epoch: &str,
        after: u64,
        seqs: &[u64],
        log: &mut impl Log,
    ) -> Result<Taken, Failure> {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(Failure);
        }
        let mut taken = self.history.take(log, epoch, after, seqs)?;
        taken.count = self.counted(0);
        Ok(taken)
    }

    /// Shard 0: where an upgrade goes when the object holds `here`
    /// sockets (see [`shard::Registry::admit`]); `Here` or `Full` when the
    /// room does not span objects.
    pub fn admit(&mut self, here: u64) -> Admit {
        let (per_object, per_room) = (
            self.config.max_connections_per_object,
            self.config.max_connections_per_room,
        );
        match &mut self.role {
            Role::Leader { registry, .. } => registry.admit(here, per_object, per_room),
            _ if here >= u64::from(self.config.object_cap()) => Admit::Full,
            _ => Admit::Here,
        }
    }

    /// Shard 0: the first effects of handing an upgrade to a shard with
    /// no members: bring its copy of the history up to date.
    pub fn sync(&mut self, shard: u32, log: &mut impl Log) -> Result<Effect, Failure> {
        let object = self
            .role
            .place()
            .map_or_else(String::new, |p| p.object(shard));
        let (epoch, last) = self.history.head(log)?;
        Ok(Effect::Deliver {
            object,
            epoch,
            after: last,
            count: 0,
        })
    }

    /// Shard 0: the upgrade handed to `shard` was answered, with the
    /// shard's count if it accepted it.
    pub fn forwarded(&mut self, shard: u32, count: Option<Count>) -> Effects {
        let Role::Leader { registry, .. } = &mut self.role else {
            return Effects::default();
        };
        register(shard, registry.forwarded(shard, count))
    }

    /// Shard 0: shard `shard` reported `count`.
    pub fn reported(&mut self, shard: u32, count: Count) -> Effects {
        let Role::Leader { registry, .. } = &mut self.role else {
            return Effects::default();
        };
        register(shard, registry.report(shard, count))
    }

    /// A shard ≥ 1: the room's count as shard 0 tells it with an upgrade.
    pub fn told(&mut self, count: u64) {
        if let Role::Follower { told, .. } = &mut self.role {
            *told = count;
        }
    }

    /// A shard ≥ 1: its count, to report at `now` (ms), with a new version.
    pub(super) fn counted(&mut self, now: u64) -> Option<Count> {
        let members = self.len() as u64;
        let Role::Follower { versions, .. } = &mut self.role else {
            return None;
        };
        Some(Count {
            members,
            version: versions.next(now),
        })
    }

    /// A shard ≥ 1 after a departure: its count, for shard 0.
    pub(super) fn report(&mut self) -> Option<Effect> {
        let count = self.counted(0)?;
        let place = self.role.place()?;
        Some(Effect::Report {
            object: place.object(0),
            shard: place.shard,
            members: count.members,
            version: count.version,
        })
    }

    /// Whether a whisper to member `to` from another shard is sent: if
    /// the room holds it (to the socket tagged `to`); if not, the sender is
    /// told [`unreached`].
    pub fn whispered(&self, to: &str) -> bool {
        self.contains(to)
    }

    /// The answer when a relayed whisper to `to` found nobody.
    pub fn unreached(to: &str) -> Effects {
        unreached(to).into()
    }

    /// This object's roster frame after `after` (a cursor), listing at
    /// most the presence limit, with the room's `count`; its `next` is the
    /// cursor after the last if more follow here, else `then`.
    pub fn page(&self, after: Option<&str>, count: u32, then: Option<String>) -> String {
        match presence::page_after(&self.members, self.presence_limit(), after) {
            Ok((connections, next)) => ServerFrame::Roster {
                count,
                connections,
                next: next.or(then),
            }
            .to_json(),
            Err(error) => ServerFrame::error(&error).to_json(),
        }
    }

    /// Shard 0: how to answer a `who` after `after` in a room that spans
    /// objects. Pages go through the shards in order (shard 0, then 1, …),
    /// each in join order; the shard is the one of the cursor's member id
    /// (a page's last, or [`shard::start_of`] a shard), and a page that
    /// ends its shard goes on at the start of the next one with members.
    pub fn plan_roster(&self, after: Option<&str>) -> Plan {
        let shard = match after.map(Cursor::parse) {
            Some(Some(cursor)) => shard::shard_of_id(cursor.id()),
            _ => 0,
        };
        let count = self.count();
        let (object, then) = match &self.role {
            Role::Leader { place, registry } => (
                place.object(shard),
                registry.next_after(shard).map(shard::start_of),
            ),
            _ => (String::new(), None),
        };
        match shard {
            0 => Plan::Done {
                text: self.page(after, count, then),
            },
            _ => Plan::Page {
                object,
                after: after.map(str::to_owned),
                count,
                then,
            },
        }
    }
}

/// The registry write for a count that changed, if it did.
fn register(shard: u32, count: Option<Count>) -> Effects {
    count
        .map(|count| {
            Effect::Register {
                shard,
                members: count.members,
                version: count.version,
            }
            .into()
        })
        .unwrap_or_default()
}
