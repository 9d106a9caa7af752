//! The safety caps: the most users one run may act on, decided once on the whole plan before any write.

use super::options::StaleOptions;

/// What the caps say of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The plan is within the cap.
    Within,
    /// The plan is over the cap and `force` passes it for this run.
    Forced,
    /// The plan is over the cap: nothing changes; why, in words.
    Over(String),
}

/// The cap for a run with `active` users: `min(maxActions, maxActionPercent of active)`.
pub(crate) fn cap(active: u64, options: &StaleOptions) -> u64 {
    u64::from(options.max_actions).min(active * u64::from(options.max_action_percent) / 100)
}

/// Judges a plan of `planned` users against the cap for `active` users.
pub(crate) fn judge(planned: u64, active: u64, options: &StaleOptions) -> Verdict {
    let cap = cap(active, options);
    match (planned > cap, options.force) {
        (false, _) => Verdict::Within,
        (true, true) => Verdict::Forced,
        (true, false) => Verdict::Over(format!(
            "plan of {planned} exceeds the cap of {cap} (maxActions {}, maxActionPercent {} of {active} active); \
             nothing changed",
            options.max_actions, options.max_action_percent
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps_of(max_actions: u32, max_action_percent: u32, force: bool) -> StaleOptions {
        StaleOptions {
            max_actions,
            max_action_percent,
            force,
            ..StaleOptions::default()
        }
    }

    #[test]
    fn the_cap_is_the_lower_of_the_count_and_the_share_of_active_users() {
        assert_eq!(
            cap(1_000, &caps_of(50, 10, false)),
            50,
            "10% of 1000 is 100, the count is lower"
        );
        assert_eq!(cap(200, &caps_of(50, 10, false)), 20, "10% of 200");
        assert_eq!(
            cap(9, &caps_of(50, 10, false)),
            0,
            "10% of 9 rounds down: a tiny installation acts on nobody"
        );
        assert_eq!(cap(0, &caps_of(50, 100, false)), 0);
    }

    #[test]
    fn a_plan_over_the_cap_changes_nothing_unless_forced_and_says_why() {
        assert_eq!(
            judge(20, 200, &caps_of(50, 10, false)),
            Verdict::Within,
            "at the cap is within"
        );
        let Verdict::Over(why) = judge(21, 200, &caps_of(50, 10, false)) else {
            panic!("21 > 20 is over");
        };
        assert_eq!(
            why,
            "plan of 21 exceeds the cap of 20 (maxActions 50, maxActionPercent 10 of 200 active); nothing changed"
        );
        assert_eq!(judge(21, 200, &caps_of(50, 10, true)), Verdict::Forced);
        assert_eq!(
            judge(0, 0, &caps_of(0, 0, false)),
            Verdict::Within,
            "an empty plan is never over"
        );
    }
}
