//! The members of a room in join order, found by id without a scan, and
//! the cursor that marks a place in that order.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::shard;
use crate::socket::Attachment;
use crate::text::base64url;

use super::stored::Stored;

/// The members in join order, found by id in O(log n): a frame costs the
/// same in a room of thousands as in a room of two.
#[derive(Clone, Debug, Default)]
pub struct Members {
    /// By (join time, id): iteration is join order, ties broken by id.
    /// With each member, what its stored attachment holds (`None` until
    /// told: see [`Members::mark`]).
    ordered: BTreeMap<(u64, String), (Attachment, Option<Stored>)>,
    /// id → join time, the other half of the key.
    joined_at: HashMap<String, u64>,
    /// Token subject → how many members have it (`AUTH_SECRET` only).
    subjects: HashMap<String, u64>,
}

impl Members {
    /// Adds a member; a duplicate id (which a sound object never holds) keeps the first.
    pub fn insert(&mut self, attachment: Attachment) {
        if self.joined_at.contains_key(&attachment.id) {
            return;
        }
        self.joined_at
            .insert(attachment.id.clone(), attachment.joined_at);
        if let Some(sub) = &attachment.sub {
            let count = self.with_subject(sub);
            self.subjects.insert(sub.clone(), count + 1);
        }
        self.ordered.insert(
            (attachment.joined_at, attachment.id.clone()),
            (attachment, None),
        );
    }

    fn key(&self, id: &str) -> Option<(u64, String)> {
        self.joined_at.get(id).map(|&at| (at, id.to_owned()))
    }

    /// Member `id`, and what its stored attachment holds if known.
    pub fn with_stored(&self, id: &str) -> Option<(&Attachment, Option<Stored>)> {
        let (member, stored) = self.ordered.get(&self.key(id)?)?;
        Some((member, *stored))
    }

    /// Member `id`'s attachment is stored as `stored` says.
    pub fn mark(&mut self, id: &str, stored: Stored) {
        if let Some(key) = self.key(id) {
            if let Some(entry) = self.ordered.get_mut(&key) {
                entry.1 = Some(stored);
            }
        }
    }

    /// Member `id`.
    pub fn get(&self, id: &str) -> Option<&Attachment> {
        self.ordered.get(&self.key(id)?).map(|(member, _)| member)
    }

    /// Member `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Attachment> {
        let key = self.key(id)?;
        self.ordered.get_mut(&key).map(|(member, _)| member)
    }

    /// Removes member `id`.
    pub fn remove(&mut self, id: &str) -> Option<Attachment> {
        let key = self.key(id)?;
        self.joined_at.remove(id);
        let (member, _) = self.ordered.remove(&key)?;
        if let Some(sub) = &member.sub {
            match self.subjects.get_mut(sub) {
                Some(count) if *count > 1 => *count -= 1,
                _ => {
                    self.subjects.remove(sub);
                }
            }
        }
        Some(member)
    }

    /// How many members have the token subject `sub`.
    pub fn with_subject(&self, sub: &str) -> u64 {
        self.subjects.get(sub).copied().unwrap_or(0)
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.joined_at.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.joined_at.is_empty()
    }

    /// Every member, in join order.
    pub fn iter(&self) -> impl Iterator<Item = &Attachment> {
        self.ordered.values().map(|(member, _)| member)
    }

    /// The members after the place `cursor`, in join order.
    pub fn after(&self, cursor: Cursor) -> impl Iterator<Item = &Attachment> {
        self.ordered
            .range((
                Bound::Excluded((cursor.joined_at, cursor.id)),
                Bound::Unbounded,
            ))
            .map(|(_, (member, _))| member)
    }

    /// A URL-safe id of at least 8 characters from `entropy` (random bytes
    /// from the runtime: the core has no RNG), unique among the members
    /// once given on shard `shard` ([`shard::id_on`]).
    pub fn fresh_id(&self, entropy: &[u8], shard: u32) -> String {
        let bytes = entropy.get(..9).unwrap_or(entropy);
        let mut id = base64url(bytes);
        let mut n = self.len();
        while id.len() < 8 || self.get(&shard::id_on(shard, id.clone())).is_some() {
            id.push_str(&base64url(&n.to_le_bytes()).replace('A', ""));
            n = n.wrapping_add(1);
        }
        id
    }
}

/// A place in the join order: a roster's `next`, written `{joined_at}.{id}`
/// (ids are base64url, so they hold no `.`). Clients treat it as opaque. It
/// is a place, not a member: it stays valid when its member leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    joined_at: u64,
    id: String,
}

impl Cursor {
    /// The id of the place: its member's, or (see [`crate::shard::start_of`])
    /// the start of a shard's.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cursor just after `member`, as text.
    pub fn at(member: &Attachment) -> String {
        format!("{}.{}", member.joined_at, member.id)
    }

    /// The place `text` names, if it is written as a cursor; `None` for
    /// anything else. A well-formed cursor the server never wrote is a
    /// place like any other: it cannot be told apart from one whose member
    /// left, and the page after it shows nothing `who` from the start
    /// would not.
    pub fn parse(text: &str) -> Option<Cursor> {
        let (joined_at, id) = text.split_once('.')?;
        if id.is_empty() {
            return None;
        }
        Some(Cursor {
            joined_at: crate::text::whole(joined_at)?,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Bucket;

    fn member(id: &str, joined_at: u64) -> Attachment {
        Attachment {
            id: id.into(),
            name: id.to_uppercase(),
            joined_at,
            sub: None,
            bucket: Bucket::default(),
            exp: None,
            typing_at: None,
        }
    }

    fn ids<'a>(members: impl Iterator<Item = &'a Attachment>) -> Vec<&'a str> {
        members.map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn keeps_join_order_with_ties_broken_by_id() {
        let mut members = Members::default();
        for (id, at) in [("cc", 2), ("bb", 1), ("aa", 2), ("bb", 9)] {
            members.insert(member(id, at));
        }
        assert_eq!(ids(members.iter()), ["bb", "aa", "cc"]);
        assert_eq!(members.get("bb").map(|m| m.joined_at), Some(1));
        assert_eq!(members.remove("aa").map(|m| m.id), Some("aa".into()));
        assert_eq!(members.remove("aa"), None);
        assert_eq!(members.len(), 2);
    }

    #[test]
    fn counts_members_by_token_subject() {
        let mut members = Members::default();
        for (id, sub) in [
            ("aa", Some("u1")),
            ("bb", Some("u1")),
            ("cc", None),
            ("dd", Some("u2")),
        ] {
            members.insert(Attachment {
                sub: sub.map(Into::into),
                ..member(id, 1)
            });
        }
        members.insert(Attachment {
            sub: Some("u1".into()),
            ..member("aa", 1)
        });
        assert_eq!(
            (members.with_subject("u1"), members.with_subject("u2")),
            (2, 1)
        );
        members.remove("aa");
        members.remove("dd");
        members.remove("dd");
        assert_eq!(
            (members.with_subject("u1"), members.with_subject("u2")),
            (1, 0)
        );
    }

    #[test]
    fn a_cursor_is_a_place_that_outlives_its_member() {
        let mut members = Members::default();
        for (id, at) in [("aa", 1), ("bb", 2), ("cc", 3)] {
            members.insert(member(id, at));
        }
        let cursor = Cursor::at(&member("bb", 2));
        assert_eq!(cursor, "2.bb");
        members.remove("bb");
        let place = Cursor::parse(&cursor).expect("a cursor");
        assert_eq!(ids(members.after(place)), ["cc"]);
    }

    #[test]
    fn only_cursors_parse() {
        for text in [
            "",
            ".",
            "1.",
            ".a",
            "x.a",
            "-1.a",
            "1",
            "abcdefgh",
            "99999999999999999999.a",
        ] {
            assert_eq!(Cursor::parse(text), None, "{text:?}");
        }
        assert!(Cursor::parse("0.a").is_some());
    }

    #[test]
    fn ids_are_url_safe_long_and_unique_even_with_poor_entropy() {
        let mut members = Members::default();
        for (i, entropy) in [&[][..], &[0; 9], &[0; 9], &[1], &[255; 9], &[255; 9]]
            .into_iter()
            .enumerate()
        {
            let id = members.fresh_id(entropy, 0);
            assert!(id.len() >= 8, "{id}");
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(members.get(&id).is_none(), "{id} is taken");
            members.insert(member(&id, i as u64));
        }
    }
}
