//! The sisense-lifecycle jobs as plain async functions over ports: [`sisense::Directory`] for Sisense,
//! [`ObjectStore`] for artefacts and [`Clock`] for time. No Lambda, no AWS types here.

pub mod clock;
pub mod export;
pub mod import;
pub mod progress;
pub mod report;
pub mod stale;
pub mod store;

pub use clock::{Clock, FixedClock, SystemClock};
pub use progress::{Progress, Tick};
pub use store::{LocalStore, MemoryStore, ObjectStore, StoreError, Upload};
