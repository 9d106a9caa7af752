//! Progress bars (indicatif) fed by the jobs' [`lifecycle::Progress`] ticks: a bar with rate and ETA when the
//! total is known, a spinner with rate when it is not. Hidden when stderr is not a terminal, or when asked.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lifecycle::{Progress, Tick};

/// The bars of one command.
#[derive(Clone, Default)]
pub struct Bars {
    current: Arc<Mutex<Option<ProgressBar>>>,
    enabled: bool,
}

impl Bars {
    /// Bars drawn on stderr when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        Bars {
            current: Arc::default(),
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// The observer to hand to a job.
    pub fn progress(&self) -> Progress {
        if !self.enabled {
            return Progress::default();
        }
        let bars = self.clone();
        Progress::new(move |tick| bars.on(tick))
    }

    fn on(&self, tick: Tick) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match tick {
            Tick::Start { phase, total } => {
                if let Some(done) = current.take() {
                    done.finish();
                }
                *current = Some(bar(phase, total));
            }
            Tick::Advance(n) => {
                if let Some(bar) = current.as_ref() {
                    bar.inc(n);
                }
            }
        }
    }

    /// Finishes the last bar, leaving its final line.
    pub fn finish(&self) {
        if let Some(done) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            done.finish();
        }
    }
}

fn bar(phase: &'static str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{msg:>18} [{bar:30}] {pos}/{len} {rate} ETA {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{msg:>18} {spinner} {pos} {rate} {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(
            style
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
        );
    }
    bar.set_message(phase);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
