//! Licence seats: Sisense licenses users by tier, and a seat held by a stale user is one that can be reclaimed.
//!
//! Tiers follow Sisense's licence model: Administrators (`super`, `admin`, `dataAdmin`), Designers
//! (`contributor`, `dataDesigner`) and Viewers (`consumer`). A role is recognised by its API name, its display
//! name or its UI name (`Viewer`, `Designer`, `Sys. Admin`, ...), and Periscope's `Admin`, `Editor` and `Viewer`
//! roles by theirs; anything else (no role, a custom role) is `unclassified`, never guessed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stale::Standing;

/// A licence tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// `super`, `admin`, `dataAdmin`.
    Administrators,
    /// `contributor`, `dataDesigner`.
    Designers,
    /// `consumer`.
    Viewers,
    /// No role, or one outside the licence tiers.
    Unclassified,
}

impl Tier {
    /// Every tier, in report order.
    pub const ALL: [Tier; 4] = [
        Tier::Administrators,
        Tier::Designers,
        Tier::Viewers,
        Tier::Unclassified,
    ];

    /// The tier of a role name (API, display or UI name, as the role resolver reads them), or Periscope's
    /// `Editor`.
    pub fn of_role(role_name: &str) -> Tier {
        match sisense::canonical_role(role_name).as_str() {
            "super" | "admin" | "dataadmin" => Tier::Administrators,
            "contributor" | "datadesigner" | "editor" => Tier::Designers,
            "consumer" => Tier::Viewers,
            _ => Tier::Unclassified,
        }
    }

    /// The name used in summaries, metrics and the access review.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Administrators => "administrators",
            Tier::Designers => "designers",
            Tier::Viewers => "viewers",
            Tier::Unclassified => "unclassified",
        }
    }
}

/// The seats of one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierSeats {
    /// Users holding the tier.
    pub total: u64,
    /// Activated users seen recently enough (or too new to judge).
    pub active: u64,
    /// Activated users not seen for the stale threshold: the seats that could be reclaimed.
    pub stale: u64,
    /// Invitations never accepted.
    pub pending_invitations: u64,
    /// Activated SSO users whose activity cannot be told (no SSO evidence): neither active nor reclaimable.
    #[serde(default)]
    pub activity_unknown: u64,
    /// Accounts activated once and deactivated since (`active: false`, seen before).
    #[serde(default)]
    pub deactivated: u64,
}

/// Seats per tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seats(pub BTreeMap<Tier, TierSeats>);

impl Seats {
    /// Every tier at zero.
    pub fn new() -> Self {
        Seats(
            Tier::ALL
                .iter()
                .map(|t| (*t, TierSeats::default()))
                .collect(),
        )
    }

    /// Counts one user of `role_name` standing as `standing`.
    pub fn add(&mut self, role_name: &str, standing: &Standing) {
        let seats = self.0.entry(Tier::of_role(role_name)).or_default();
        seats.total += 1;
        match standing {
            Standing::Current => seats.active += 1,
            Standing::Stale { .. } => seats.stale += 1,
            Standing::Pending { .. } => seats.pending_invitations += 1,
            Standing::Unknown { .. } => seats.activity_unknown += 1,
            Standing::Deactivated { .. } => seats.deactivated += 1,
        }
    }

    /// Stale seats in every tier.
    pub fn stale(&self) -> u64 {
        self.0.values().map(|s| s.stale).sum()
    }

    /// Stale seats per tier: what reclaiming them would free.
    pub fn reclaimable(&self) -> BTreeMap<Tier, u64> {
        self.0.iter().map(|(tier, s)| (*tier, s.stale)).collect()
    }

    /// The seats of `tier`.
    pub fn tier(&self, tier: Tier) -> TierSeats {
        self.0.get(&tier).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_licence_tiers_by_any_of_their_names() {
        for (name, tier) in [
            ("super", Tier::Administrators),
            ("Sys. Admin", Tier::Administrators),
            ("admin", Tier::Administrators),
            ("dataAdmin", Tier::Administrators),
            ("Data Admin", Tier::Administrators),
            ("contributor", Tier::Designers),
            ("Designer", Tier::Designers),
            ("dataDesigner", Tier::Designers),
            ("Editor", Tier::Designers),
            ("consumer", Tier::Viewers),
            ("Viewer", Tier::Viewers),
            ("", Tier::Unclassified),
            ("Everyone", Tier::Unclassified),
            ("Custom Analysts", Tier::Unclassified),
        ] {
            assert_eq!(Tier::of_role(name), tier, "{name}");
        }
    }

    #[test]
    fn counts_standing_per_tier_and_reclaimable_is_the_stale_seats() {
        let mut seats = Seats::new();
        seats.add("consumer", &Standing::Current);
        seats.add(
            "consumer",
            &Standing::Stale {
                last_seen: None,
                source: None,
                days_inactive: 100,
            },
        );
        seats.add(
            "contributor",
            &Standing::Pending {
                days_since_created: 3,
                stale: false,
            },
        );
        let viewers = seats.tier(Tier::Viewers);
        assert_eq!((viewers.total, viewers.active, viewers.stale), (2, 1, 1));
        assert_eq!(seats.tier(Tier::Designers).pending_invitations, 1);
        assert_eq!(seats.reclaimable()[&Tier::Viewers], 1);
        assert_eq!(seats.reclaimable()[&Tier::Designers], 0);
        let json = serde_json::to_value(&seats).unwrap();
        assert_eq!(json["viewers"]["stale"], 1);
        assert_eq!(json["administrators"]["total"], 0);
    }
}
