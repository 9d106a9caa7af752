//! Where one run keeps its state.

/// The keys of one run's state, all below one base (`.../.state/<run>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKeys {
    base: String,
}

impl RunKeys {
    /// The state below `base`, which ends with `/`.
    pub fn new(base: impl Into<String>) -> Self {
        RunKeys { base: base.into() }
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> String {
        self.file("checkpoint.json")
    }

    /// Report part `n` (numbered from 1, in the order the segments ran).
    pub fn part(&self, n: usize) -> String {
        format!("{}parts/{n:06}.csv", self.base)
    }

    /// Any other file of the run (`plan.json`, `claim.json`...).
    pub fn file(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_numbered_from_one_below_the_base() {
        let keys = RunKeys::new("reports/x/.state/r/");
        assert_eq!(keys.part(1), "reports/x/.state/r/parts/000001.csv");
        assert_eq!(keys.checkpoint(), "reports/x/.state/r/checkpoint.json");
        assert_eq!(keys.file("plan.json"), "reports/x/.state/r/plan.json");
    }
}
