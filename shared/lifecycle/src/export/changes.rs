//! Joiners, leavers and movers: an export compared with the previous one (`latest.csv` before it is replaced).
//!
//! The previous CSV is streamed twice and never held: the first pass keeps, per user, a 64-bit hash of the id
//! and the indexes of its role and group names (each distinct name stored once); the new export is compared
//! user by user as it is written; the second pass names the users the new listing did not return (leavers).
//! Cells are compared as both exports wrote them (neutralised the same way).

use std::hash::BuildHasher;

use foldhash::HashMap;

use csv_async::{AsyncReaderBuilder, StringRecord};
use serde::Serialize;

use crate::store::{ObjectStore, Reader};

/// The changes CSV's header, exactly.
pub const CHANGES_HEADER: [&str; 5] = ["user_id", "email", "change", "before", "after"];

/// One kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In this export, not in the previous one.
    Joined,
    /// In the previous export, not in this one.
    Left,
    /// Another role name.
    RoleChanged,
    /// Other group names.
    GroupsChanged,
    /// `is_active` went from false to true (an invitation accepted).
    Activated,
    /// `is_active` went from true to false (deactivated, where the release applies it).
    Deactivated,
}

impl Change {
    /// The CSV's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Joined => "joined",
            Change::Left => "left",
            Change::RoleChanged => "role_changed",
            Change::GroupsChanged => "groups_changed",
            Change::Activated => "activated",
            Change::Deactivated => "deactivated",
        }
    }
}

/// The counts the summary carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCounts {
    /// What this export was compared with (`None`: nothing, see `note`).
    pub compared_with: Option<String>,
    /// Why nothing was compared (the first export, an unreadable previous file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Key of the changes CSV (`None` when nothing was compared).
    pub key: Option<String>,
    /// Users new since the previous export.
    pub joined: u64,
    /// Users gone since the previous export.
    pub left: u64,
    /// Users whose role changed.
    pub role_changed: u64,
    /// Users whose groups changed.
    pub groups_changed: u64,
    /// Users activated since the previous export.
    pub activated: u64,
    /// Users deactivated since the previous export.
    pub deactivated: u64,
}

impl ChangeCounts {
    /// Nothing compared, and why.
    pub fn none(note: impl Into<String>) -> Self {
        ChangeCounts {
            note: Some(note.into()),
            ..ChangeCounts::default()
        }
    }

    fn count(&mut self, change: Change) {
        let n = match change {
            Change::Joined => &mut self.joined,
            Change::Left => &mut self.left,
            Change::RoleChanged => &mut self.role_changed,
            Change::GroupsChanged => &mut self.groups_changed,
            Change::Activated => &mut self.activated,
            Change::Deactivated => &mut self.deactivated,
        };
        *n += 1;
    }
}

/// The cells of one user that are compared, as an export CSV holds them.
#[derive(Debug, Clone, Copy)]
pub struct Compared<'a> {
    /// `user_id`.
    pub id: &'a str,
    /// `email`.
    pub email: &'a str,
    /// `role_name`.
    pub role: &'a str,
    /// `group_names`.
    pub groups: &'a str,
    /// `is_active`.
    pub active: &'a str,
}

/// Column positions in a previous export.
#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    email: usize,
    role: usize,
    groups: usize,
    active: usize,
}

impl Columns {
    fn of(header: &StringRecord) -> Result<Self, String> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("the previous export has no column {name}"))
        };
        Ok(Columns {
            id: find("user_id")?,
            email: find("email")?,
            role: find("role_name")?,
            groups: find("group_names")?,
            active: find("is_active")?,
        })
    }

    fn read<'r>(&self, record: &'r StringRecord) -> Compared<'r> {
        let cell = |i: usize| record.get(i).unwrap_or_default();
        Compared {
            id: cell(self.id),
            email: cell(self.email),
            role: cell(self.role),
            groups: cell(self.groups),
            active: cell(self.active),
        }
    }
}

/// Each distinct string once, by index.
#[derive(Debug, Default)]
struct Interner {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    fn get(&self, i: u32) -> &str {
        self.strings.get(i as usize).map_or("", String::as_str)
    }
}

/// A previous user's role and groups (interned) and flags: 8 bytes, 16 with its id hash.
#[derive(Debug, Clone, Copy)]
struct Entry {
    role: u32,
    /// The groups' index in the low 30 bits, then [`Entry::ACTIVE`] and [`Entry::SEEN`].
    groups_and_flags: u32,
}

impl Entry {
    const ACTIVE: u32 = 1 << 30;
    const SEEN: u32 = 1 << 31;
    /// The most distinct group lists an export may hold (one a user at most: a billion users).
    const MAX_GROUPS: u32 = Self::ACTIVE - 1;

    /// `None` when `groups` does not fit below the flags.
    fn new(role: u32, groups: u32, active: bool) -> Option<Entry> {
        (groups <= Self::MAX_GROUPS).then_some(Entry {
            role,
            groups_and_flags: groups | if active { Self::ACTIVE } else { 0 },
        })
    }

    fn groups(self) -> u32 {
        self.groups_and_flags & Self::MAX_GROUPS
    }

    fn active(self) -> bool {
        self.groups_and_flags & Self::ACTIVE != 0
    }

    fn seen(self) -> bool {
        self.groups_and_flags & Self::SEEN != 0
    }

    fn mark_seen(&mut self) {
        self.groups_and_flags |= Self::SEEN;
    }
}

/// A user id's 64-bit hash: foldhash's quality variant (a full avalanche, unlike its fast one), seeded the same in
/// both passes over the previous export and for the new one. Ids are the server's, not input to defend against.
fn id_hash(id: &str) -> u64 {
    const ID_HASH: foldhash::quality::FixedState =
        foldhash::quality::FixedState::with_seed(0x5153_4c49_4645);
    ID_HASH.hash_one(id)
}

/// The previous export, as much of it as the comparison needs.
#[derive(Debug)]
pub struct Previous {
    key: String,
    columns: Columns,
    /// By id hash, sorted: 16 bytes a user, grown in place (a hash table would hold its old and new tables at
    /// once while it grows, and a quarter of its slots empty).
    users: Vec<(u64, Entry)>,
    /// Where `users` is looked up from: see [`HashIndex`].
    index: HashIndex,
    roles: Interner,
    groups: Interner,
}

/// Where each run of hashes sharing their top bits starts in a hash-sorted vector, so that a lookup searches a
/// handful of neighbouring entries instead of halving the whole vector: every halving is a dependent read that
/// misses the cache once the vector outgrows it (2.4 MB for 100,000 users), while parsing pages evicts it.
/// About four entries a bucket; at most two bytes a user.
#[derive(Debug, Default)]
struct HashIndex {
    /// log2 of the number of buckets.
    bits: u32,
    /// The first position of each bucket, then the vector's length.
    starts: Vec<u32>,
}

impl HashIndex {
    fn of(sorted: &[(u64, Entry)]) -> Self {
        let buckets = (sorted.len() / 4).max(1).next_power_of_two();
        let bits = buckets.trailing_zeros();
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut at = 0;
        for bucket in 0..buckets {
            while sorted
                .get(at)
                .is_some_and(|(hash, _)| Self::bucket(*hash, bits) < bucket)
            {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(sorted.len() as u32);
        HashIndex { bits, starts }
    }

    fn bucket(hash: u64, bits: u32) -> usize {
        hash.checked_shr(64 - bits).unwrap_or(0) as usize
    }

    /// The position of `hash` in the vector this index was made of.
    fn find(&self, sorted: &[(u64, Entry)], hash: u64) -> Option<usize> {
        let bucket = Self::bucket(hash, self.bits);
        let from = *self.starts.get(bucket)? as usize;
        let to = *self.starts.get(bucket + 1)? as usize;
        let run = sorted.get(from..to)?;
        let i = run.binary_search_by_key(&hash, |(h, _)| *h).ok()?;
        Some(from + i)
    }
}

/// Why the previous export cannot be compared with.
pub type Unavailable = String;

async fn reader(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<csv_async::AsyncReader<Reader>>, Unavailable> {
    let opened = store
        .open(key)
        .await
        .map_err(|e| format!("the previous export could not be read: {e}"))?;
    Ok(opened.map(|stream| AsyncReaderBuilder::new().create_reader(stream)))
}

impl Previous {
    /// Reads the previous export at `key` (first pass); `Ok(None)` when there is none.
    pub async fn load(store: &dyn ObjectStore, key: &str) -> Result<Option<Previous>, Unavailable> {
        let unreadable =
            |e: csv_async::Error| format!("the previous export {key} could not be read: {e}");
        let Some(mut reader) = reader(store, key).await? else {
            return Ok(None);
        };
        let columns = Columns::of(reader.headers().await.map_err(unreadable)?)?;
        let mut previous = Previous {
            key: key.to_string(),
            columns,
            users: Vec::new(),
            index: HashIndex::default(),
            roles: Interner::default(),
            groups: Interner::default(),
        };
        let mut record = StringRecord::new();
        while reader.read_record(&mut record).await.map_err(unreadable)? {
            let cells = columns.read(&record);
            let role = previous.roles.intern(cells.role);
            let groups = previous.groups.intern(cells.groups);
            let entry = Entry::new(role, groups, cells.active == "true").ok_or_else(|| {
                format!("the previous export {key} holds more distinct group lists than the comparison keeps")
            })?;
            previous.users.push((id_hash(cells.id), entry));
        }
        // An id listed twice keeps its first row.
        previous.users.sort_by_key(|(hash, _)| *hash);
        previous.users.dedup_by_key(|(hash, _)| *hash);
        previous.index = HashIndex::of(&previous.users);
        Ok(Some(previous))
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        let i = self.index.find(&self.users, id_hash(id))?;
        self.users.get(i).map(|(_, entry)| entry)
    }

    fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        let i = self.index.find(&self.users, id_hash(id))?;
        self.users.get_mut(i).map(|(_, entry)| entry)
    }

    /// The changes of one user of the new export (and marks it seen).
    pub fn compare(&mut self, now: Compared<'_>) -> Vec<(Change, String, String)> {
        let Some(entry) = self.entry_mut(now.id) else {
            return vec![(Change::Joined, String::new(), now.role.to_string())];
        };
        entry.mark_seen();
        let entry = *entry;
        let mut changes = Vec::new();
        let role = self.roles.get(entry.role);
        if role != now.role {
            changes.push((Change::RoleChanged, role.to_string(), now.role.to_string()));
        }
        let groups = self.groups.get(entry.groups());
        if groups != now.groups {
            changes.push((
                Change::GroupsChanged,
                groups.to_string(),
                now.groups.to_string(),
            ));
        }
        match (entry.active(), now.active == "true") {
            (false, true) => changes.push((Change::Activated, "false".into(), "true".into())),
            (true, false) => changes.push((Change::Deactivated, "true".into(), "false".into())),
            (true, true) | (false, false) => {}
        }
        changes
    }

    /// The previous export's users the new one did not return (second pass), each with its cells.
    pub async fn leavers(
        &self,
        store: &dyn ObjectStore,
        mut each: impl FnMut(Compared<'_>) -> Result<(), csv::Error>,
    ) -> Result<(), LeaversError> {
        let unreadable = |e: csv_async::Error| {
            format!(
                "the previous export {} could not be read again: {e}",
                self.key
            )
        };
        if self.users.iter().all(|(_, e)| e.seen()) {
            return Ok(());
        }
        let mut reader = reader(store, &self.key).await?.ok_or_else(|| {
            format!(
                "the previous export {} disappeared during the export",
                self.key
            )
        })?;
        reader.headers().await.map_err(unreadable)?;
        let mut record = StringRecord::new();
        while reader.read_record(&mut record).await.map_err(unreadable)? {
            let cells = self.columns.read(&record);
            if self.entry(cells.id).is_some_and(|e| !e.seen()) {
                each(cells).map_err(LeaversError::Write)?;
            }
        }
        Ok(())
    }

    /// Where the previous export was read from.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Why the leavers could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum LeaversError {
    /// The previous export could not be read again.
    #[error("{0}")]
    Read(Unavailable),
    /// Writing the changes CSV failed.
    #[error("writing the changes CSV: {0}")]
    Write(csv::Error),
}

impl From<Unavailable> for LeaversError {
    fn from(e: Unavailable) -> Self {
        LeaversError::Read(e)
    }
}

/// The changes CSV being written, with its counts.
pub struct ChangeLog {
    csv: csv::Writer<Vec<u8>>,
    /// The counts so far.
    pub counts: ChangeCounts,
}

impl ChangeLog {
    /// A log comparing with `previous` (its key is recorded as `comparedWith`), writing to `key`.
    pub fn new(previous: &Previous, key: &str) -> Result<Self, csv::Error> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(CHANGES_HEADER)?;
        Ok(ChangeLog {
            csv,
            counts: ChangeCounts {
                compared_with: Some(previous.key().to_string()),
                key: Some(key.to_string()),
                ..ChangeCounts::default()
            },
        })
    }

    /// Records one change.
    pub fn record(
        &mut self,
        who: Compared<'_>,
        change: Change,
        before: &str,
        after: &str,
    ) -> Result<(), csv::Error> {
        self.counts.count(change);
        self.csv
            .write_record([who.id, who.email, change.as_str(), before, after])
    }

    /// The bytes written since the last call (to hand to an upload).
    pub fn take(&mut self) -> Result<Vec<u8>, csv::Error> {
        let full = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
        full.into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }

    /// Bytes waiting to be taken.
    pub fn pending(&self) -> usize {
        self.csv.get_ref().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn csv(rows: &[&str]) -> Vec<u8> {
        let mut s = String::from("user_id,is_active,email,role_name,group_names\n");
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s.into_bytes()
    }

    #[tokio::test]
    async fn joiners_leavers_and_movers_are_found_in_both_passes() {
        let store = MemoryStore::default();
        store
            .put(
                "latest.csv",
                csv(&[
                    "1,true,a@x,consumer,",
                    "2,true,b@x,consumer,Sales",
                    "3,false,c@x,consumer,",
                    "4,true,d@x,admin,",
                ]),
                "text/csv",
            )
            .await
            .unwrap();
        let mut previous = Previous::load(&store, "latest.csv").await.unwrap().unwrap();
        assert_eq!(previous.users.len(), 4);
        let user = |id, email, role, groups, active| Compared {
            id,
            email,
            role,
            groups,
            active,
        };
        assert!(
            previous
                .compare(user("1", "a@x", "consumer", "", "true"))
                .is_empty()
        );
        let moved = previous.compare(user("2", "b@x", "contributor", "Sales;EU", "true"));
        let kinds: Vec<_> = moved.iter().map(|c| c.0).collect();
        assert_eq!(kinds, [Change::RoleChanged, Change::GroupsChanged]);
        assert_eq!(
            (moved[0].1.as_str(), moved[0].2.as_str()),
            ("consumer", "contributor")
        );
        let activated = previous.compare(user("3", "c@x", "consumer", "", "true"));
        assert_eq!(activated[0].0, Change::Activated);
        let joined = previous.compare(user("5", "e@x", "consumer", "", "true"));
        assert_eq!(joined[0].0, Change::Joined);
        let mut left = Vec::new();
        previous
            .leavers(&store, |c| {
                left.push(c.email.to_string());
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(left, ["d@x"]);
    }

    #[test]
    fn an_entry_keeps_its_indices_and_flags_apart_in_sixteen_bytes_with_its_hash() {
        assert_eq!(std::mem::size_of::<(u64, Entry)>(), 16);
        for (groups, active) in [
            (0, false),
            (0, true),
            (Entry::MAX_GROUPS, false),
            (Entry::MAX_GROUPS, true),
        ] {
            let mut entry = Entry::new(u32::MAX, groups, active).unwrap();
            assert_eq!(
                (entry.role, entry.groups(), entry.active(), entry.seen()),
                (u32::MAX, groups, active, false)
            );
            entry.mark_seen();
            assert_eq!(
                (entry.role, entry.groups(), entry.active(), entry.seen()),
                (u32::MAX, groups, active, true)
            );
        }
        assert!(Entry::new(0, Entry::MAX_GROUPS + 1, false).is_none());
    }

    #[test]
    fn ids_that_differ_in_a_few_hex_digits_keep_distinct_hashes() {
        // Sisense ids are ObjectIds: a shared prefix, then a counter. Two ids of one hash would be compared as one
        // user (a joiner or a leaver missed), so structured ids must not collide where random ones would not.
        let mut hashes: Vec<u64> = (0..300_000u32)
            .map(|n| id_hash(&format!("64a1f0c2e4b0{n:012x}")))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 300_000);
        // And the top bits the index buckets by are spread: no bucket of 2^16 holds more than a few dozen.
        let mut buckets = vec![0u32; 1 << 16];
        for h in &hashes {
            buckets[(h >> 48) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| n < 32),
            "{:?}",
            buckets.iter().max()
        );
    }

    #[test]
    fn the_hash_index_finds_every_entry_and_nothing_else_at_every_size() {
        let entry = Entry::new(0, 0, true).unwrap();
        for n in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 31, 1_000, 4_099] {
            let mut sorted: Vec<(u64, Entry)> =
                (0..n).map(|i| (id_hash(&format!("u{i}")), entry)).collect();
            // The extremes of the hash space land in the first and the last bucket.
            if n > 2 {
                sorted[0].0 = 0;
                sorted[1].0 = u64::MAX;
            }
            sorted.sort_by_key(|(hash, _)| *hash);
            let index = HashIndex::of(&sorted);
            assert_eq!(index.starts.len(), (n / 4).max(1).next_power_of_two() + 1);
            for (i, (hash, _)) in sorted.iter().enumerate() {
                assert_eq!(index.find(&sorted, *hash), Some(i), "n={n} i={i}");
            }
            for absent in 0..50 {
                let hash = id_hash(&format!("absent{absent}"));
                assert_eq!(index.find(&sorted, hash), None, "n={n}");
            }
        }
    }

    #[tokio::test]
    async fn a_previous_export_without_the_compared_columns_is_not_compared() {
        let store = MemoryStore::default();
        store
            .put("latest.csv", b"user_id,email\n1,a@x\n".to_vec(), "text/csv")
            .await
            .unwrap();
        let err = Previous::load(&store, "latest.csv").await.unwrap_err();
        assert!(err.contains("no column role_name"), "{err}");
        assert!(
            Previous::load(&store, "missing.csv")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_malformed_previous_export_is_reported_not_half_compared() {
        let store = MemoryStore::default();
        let mut body = csv(&["1,true,a@x,consumer,"]);
        body.extend_from_slice(b"2,true\n");
        store.put("latest.csv", body, "text/csv").await.unwrap();
        let err = Previous::load(&store, "latest.csv").await.unwrap_err();
        assert!(err.contains("could not be read"), "{err}");
    }
}
