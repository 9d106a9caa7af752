//! The sisense-lifecycle jobs as plain async functions over ports: [`sisense::Directory`] for Sisense,
//! [`ObjectStore`] for artefacts and [`Clock`] for time. No Lambda, no AWS types here.

pub mod activity;
pub mod artefact;
pub mod clock;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod export;
pub mod import;
pub mod names;
pub mod notify;
pub mod progress;
pub mod restore;
pub mod seats;
pub mod settings;
pub mod stale;
pub mod store;
pub mod tenancy;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{InvalidOption, JobError};
pub use names::Names;
pub use notify::{MemoryNotifier, Notifier, NotifyError};
pub use progress::{Progress, Tick};
pub use store::{LocalStore, MemoryStore, ObjectStore, Reader, StoreError, Upload};
