//! How far a job is: the CLI draws progress bars from it; the Lambdas pass none and pay nothing.

use std::fmt;
use std::sync::Arc;

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// A phase starts; `total` items when known (Sisense does not say how many users there are).
    Start {
        /// What the phase does, e.g. "listing users".
        phase: &'static str,
        /// Items in the phase, when known.
        total: Option<u64>,
    },
    /// This many more items of the current phase are done.
    Advance(u64),
}

/// A cloneable observer of [`Tick`]s; the default observes nothing.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(Tick) + Send + Sync>>);

impl Progress {
    /// An observer calling `f` for every tick.
    pub fn new(f: impl Fn(Tick) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(f)))
    }

    /// Reports that a phase starts.
    pub fn start(&self, phase: &'static str, total: Option<u64>) {
        self.tick(Tick::Start { phase, total });
    }

    /// Reports `n` more items done.
    pub fn advance(&self, n: u64) {
        if n > 0 {
            self.tick(Tick::Advance(n));
        }
    }

    fn tick(&self, tick: Tick) {
        if let Some(f) = &self.0 {
            f(tick);
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(observed)"
        } else {
            "Progress(none)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_ticks_and_skips_empty_advances() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let progress = Progress::new(move |t| sink.lock().unwrap().push(t));
        progress.start("rows", Some(3));
        progress.advance(0);
        progress.advance(2);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                Tick::Start {
                    phase: "rows",
                    total: Some(3)
                },
                Tick::Advance(2)
            ]
        );
        Progress::default().advance(5);
        assert_eq!(format!("{:?}", Progress::default()), "Progress(none)");
    }
}
