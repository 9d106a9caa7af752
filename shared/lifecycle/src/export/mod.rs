//! The export job: every user to a CSV streamed into the object store, plus a summary.

mod changes;
mod csv_row;
mod summary;

use std::borrow::Cow;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use sisense::{Directory, UserQuery};

pub use changes::{CHANGES_HEADER, Change, ChangeCounts};
pub use csv_row::{FIELDS, HEADER, SITE_COLUMN, TENANT_COLUMN, row};
pub use summary::{BUCKETS, Summary};

use crate::artefact::{instant, neutralise, normalise_prefix, put_json, stamp};
use crate::clock::Clock;
use crate::error::JobError;
use crate::names::Names;
use crate::progress::Progress;
use crate::settings::Settings;
use crate::stale::{DEFAULT_INACTIVE_DAYS, Thresholds};
use crate::store::{ObjectStore, Upload};
use changes::{ChangeLog, Compared, Previous};
use csv_row::column;

/// Default key prefix of exports.
pub const DEFAULT_PREFIX: &str = "exports/users/";
/// Users per page, unless configured (`EXPORT_PAGE_SIZE`, the CLI's `--page-size`).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Pages in flight, unless configured (`EXPORT_PREFETCH`): the Lambda and the CLI list alike.
pub const DEFAULT_PREFETCH: usize = 8;

/// What to export and where: the export's options, declared once ([`Settings`]; variables `EXPORT_PREFIX`,
/// `EXPORT_PAGE_SIZE`, `EXPORT_PREFETCH`, `INACTIVE_DAYS`, `NEVER_LOGGED_IN_GRACE_DAYS`, `TRUST_LAST_LOGIN`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportOptions {
    /// Key prefix; `dt=YYYY-MM-DD/users-<timestamp>.csv` and `latest.csv` go under it.
    pub prefix: String,
    /// Users per page (the client's default when `None`).
    pub page_size: Option<u32>,
    /// Pages in flight (the client's default when `None`).
    pub prefetch: Option<usize>,
    /// CSV bytes buffered before they are handed to the upload.
    #[serde(skip, default = "flush_bytes")]
    pub flush_bytes: usize,
    /// Staleness thresholds for the summary's seat counts (the deactivation job's defaults unless set).
    pub thresholds: Thresholds,
    /// Judge SSO users by `lastLogin` too (`TRUST_LAST_LOGIN`), as the deactivation job does with it.
    pub trust_last_login: bool,
    /// Told of every user written.
    #[serde(skip)]
    pub progress: Progress,
}

/// CSV bytes buffered before they are handed to the upload.
fn flush_bytes() -> usize {
    256 << 10
}

impl Settings for ExportOptions {
    const ENV_NAMES: &'static [(&'static str, &'static str)] = &[
        ("prefix", "EXPORT_PREFIX"),
        ("pageSize", "EXPORT_PAGE_SIZE"),
        ("prefetch", "EXPORT_PREFETCH"),
    ];

    fn check(&self) -> Result<(), crate::InvalidOption> {
        if self.page_size == Some(0) {
            return Err(crate::InvalidOption::new(
                "pageSize",
                0,
                "must be at least 1",
            ));
        }
        if self.thresholds.inactive_days == 0 {
            return Err(crate::InvalidOption::new(
                "inactiveDays",
                0,
                "must be at least 1 (0 would count every seat stale)",
            ));
        }
        Ok(())
    }
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            prefix: DEFAULT_PREFIX.into(),
            page_size: Some(DEFAULT_PAGE_SIZE),
            prefetch: Some(DEFAULT_PREFETCH),
            flush_bytes: flush_bytes(),
            thresholds: Thresholds::new(DEFAULT_INACTIVE_DAYS, None),
            trust_last_login: false,
            progress: Progress::default(),
        }
    }
}

/// Why an export failed. Nothing is left half-written: the upload is aborted and `latest.csv` untouched.
pub type ExportError = JobError;

/// What an export produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportOutcome {
    /// Users written.
    pub users: u64,
    /// The bucket (or folder) written to.
    pub bucket: String,
    /// Key of the dated CSV.
    pub key: String,
    /// Key of the summary JSON.
    pub summary_key: String,
    /// Key of the copy at `latest.csv`.
    pub latest_key: String,
    /// Size of the CSV in bytes.
    pub bytes: u64,
    /// Joiners, leavers and movers since the previous export, and the key of their CSV.
    pub changes: ChangeCounts,
    /// The summary written beside the CSV.
    pub summary: Summary,
}

impl ExportOutcome {
    /// What the export-users function returns (and `sisense-lifecycle export --json` prints).
    pub fn response(&self) -> serde_json::Value {
        serde_json::json!({
            "users": self.users,
            "bucket": self.bucket,
            "key": self.key,
            "summaryKey": self.summary_key,
            "changesKey": self.changes.key,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryFile<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    /// Activated users not seen for `staleDays` (0 where last logins are not available).
    stale: u64,
    /// Stale seats per tier: what offboarding the stale users would free.
    reclaimable: std::collections::BTreeMap<crate::seats::Tier, u64>,
    csv_key: &'a str,
    changes: &'a ChangeCounts,
    timing: Timing,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Timing {
    started_at: String,
    finished_at: String,
    duration_ms: u64,
}

/// Where one export writes.
struct Keys {
    csv: String,
    summary: String,
    latest: String,
    changes: String,
}

impl Keys {
    fn new(prefix: &str, started: DateTime<Utc>) -> Self {
        let day = format!("{prefix}dt={}", started.format("%Y-%m-%d"));
        let stem = format!("{day}/users-{}", stamp(started));
        Keys {
            csv: format!("{stem}.csv"),
            summary: format!("{stem}.summary.json"),
            latest: format!("{prefix}latest.csv"),
            changes: format!("{day}/changes-{}.csv", stamp(started)),
        }
    }
}

/// Streams every user to `{prefix}dt=YYYY-MM-DD/users-YYYYMMDDTHHMMSSZ.csv`, copies it to `{prefix}latest.csv`
/// and writes the summary beside it.
#[tracing::instrument(skip_all, fields(family = directory.capabilities().family, prefix = %options.prefix))]
pub async fn export_users(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    options: &ExportOptions,
) -> Result<ExportOutcome, ExportError> {
    let started = clock.now();
    let timer = Instant::now();
    let keys = Keys::new(&normalise_prefix(&options.prefix), started);
    // The names, the previous export and the server's first count, at once.
    let (roles, groups, diff, before) = futures::join!(
        directory.roles(None),
        directory.groups(None),
        Diff::start(store, &keys.latest, &keys.changes),
        count(directory),
    );
    let mut diff = diff?;
    let names = match (roles, groups) {
        (Ok(roles), Ok(groups)) => Names::new(&roles, &groups),
        (Err(e), _) | (_, Err(e)) => {
            diff.abort().await;
            return Err(e.into());
        }
    };
    let mut upload = match store
        .start_upload(&keys.csv, "text/csv; charset=utf-8")
        .await
    {
        Ok(upload) => upload,
        Err(e) => {
            diff.abort().await;
            return Err(e.into());
        }
    };
    let written = write_csv(
        directory,
        upload.as_mut(),
        &names,
        started,
        options,
        &mut diff,
    )
    .await;
    // After the listing: the server's second count, while both uploads send their last parts and the previous
    // export is read again for the leavers.
    let completed = match written {
        Ok(summary) => {
            let (after, sealed, prepared) =
                futures::join!(count(directory), upload.seal(), diff.prepare(store));
            complete(&summary, before, after)
                .and(sealed.map_err(ExportError::from))
                .and(prepared)
                .map(|()| summary)
        }
        Err(e) => Err(e),
    };
    let summary = match completed {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!(key = %keys.csv, error = %e, "export failed; aborting the upload");
            upload.abort().await;
            diff.abort().await;
            return Err(e);
        }
    };
    let timing = (started, timer);
    publish(store, clock, keys, summary, upload, diff, timing).await
}

/// Publishes a complete export: the changes, the CSV, `latest.csv`, then the summary.
async fn publish(
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    keys: Keys,
    summary: Summary,
    upload: Box<dyn Upload>,
    diff: Diff,
    (started, timer): (DateTime<Utc>, Instant),
) -> Result<ExportOutcome, ExportError> {
    let changes = match diff.publish().await {
        Ok(changes) => changes,
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    let bytes = upload.finish().await?;
    store.copy(&keys.csv, &keys.latest).await?;
    let file = SummaryFile {
        summary: &summary,
        stale: summary.seats.stale(),
        reclaimable: summary.seats.reclaimable(),
        csv_key: &keys.csv,
        changes: &changes,
        timing: Timing {
            started_at: instant(started),
            finished_at: instant(clock.now()),
            duration_ms: timer.elapsed().as_millis() as u64,
        },
    };
    put_json(store, &keys.summary, &file).await?;
    tracing::info!(users = summary.users, bytes, key = %keys.csv, joined = changes.joined, left = changes.left, "export written");
    Ok(ExportOutcome {
        users: summary.users,
        bucket: store.container(),
        key: keys.csv,
        summary_key: keys.summary,
        latest_key: keys.latest,
        bytes,
        changes,
        summary,
    })
}

/// The comparison with the previous export while this one is written: nothing, or the previous export's
/// digest with the changes CSV being uploaded.
enum Diff {
    Nothing(ChangeCounts),
    Comparing {
        previous: Box<Previous>,
        log: Box<ChangeLog>,
        upload: Box<dyn Upload>,
    },
}

impl Diff {
    /// Reads the previous export (first pass) and starts the changes upload; an unreadable previous export is
    /// noted, never fatal.
    async fn start(
        store: &dyn ObjectStore,
        latest_key: &str,
        changes_key: &str,
    ) -> Result<Diff, ExportError> {
        let previous = match Previous::load(store, latest_key).await {
            Ok(Some(previous)) => previous,
            Ok(None) => {
                return Ok(Diff::Nothing(ChangeCounts::none(format!(
                    "first export: there is no previous {latest_key} to compare with"
                ))));
            }
            Err(reason) => {
                tracing::warn!(%reason, "not comparing with the previous export");
                return Ok(Diff::Nothing(ChangeCounts::none(reason)));
            }
        };
        let log = Box::new(ChangeLog::new(&previous, changes_key)?);
        let upload = store
            .start_upload(changes_key, "text/csv; charset=utf-8")
            .await?;
        Ok(Diff::Comparing {
            previous: Box::new(previous),
            log,
            upload,
        })
    }

    /// Compares one user of the new export.
    async fn compare(
        &mut self,
        cells: &[Cow<'_, str>; 17],
        flush_bytes: usize,
    ) -> Result<(), ExportError> {
        let Diff::Comparing {
            previous,
            log,
            upload,
        } = self
        else {
            return Ok(());
        };
        let who = Compared {
            id: &cells[column::USER_ID],
            active: &cells[column::IS_ACTIVE],
            email: &cells[column::EMAIL],
            role: &cells[column::ROLE_NAME],
            groups: &cells[column::GROUP_NAMES],
        };
        for (change, before, after) in previous.compare(who) {
            log.record(who, change, &before, &after)?;
        }
        if log.pending() >= flush_bytes {
            upload.write(&log.take()?).await?;
        }
        Ok(())
    }

    /// Lists the leavers (second pass over the previous export) and sends the whole changes CSV. A previous
    /// export that cannot be read again drops the comparison (noted), not the export.
    async fn prepare(&mut self, store: &dyn ObjectStore) -> Result<(), ExportError> {
        let Diff::Comparing {
            previous,
            log,
            upload,
        } = self
        else {
            return Ok(());
        };
        let leavers = previous
            .leavers(store, |who| log.record(who, Change::Left, who.role, ""))
            .await;
        match leavers {
            Ok(()) => {}
            Err(changes::LeaversError::Write(e)) => return Err(e.into()),
            Err(changes::LeaversError::Read(reason)) => {
                tracing::warn!(%reason, "not comparing with the previous export");
                let dropped = std::mem::replace(self, Diff::Nothing(ChangeCounts::none(reason)));
                dropped.abort().await;
                return Ok(());
            }
        }
        upload.write(&log.take()?).await?;
        upload.seal().await?;
        Ok(())
    }

    /// Publishes the changes CSV [`Diff::prepare`] sent.
    async fn publish(self) -> Result<ChangeCounts, ExportError> {
        match self {
            Diff::Nothing(counts) => Ok(counts),
            Diff::Comparing { log, upload, .. } => {
                upload.finish().await?;
                Ok(log.counts)
            }
        }
    }

    async fn abort(self) {
        if let Diff::Comparing { upload, .. } = self {
            upload.abort().await;
        }
    }
}

fn into_bytes(csv: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    csv.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

async fn write_csv(
    directory: &dyn Directory,
    upload: &mut dyn Upload,
    names: &Names,
    now: DateTime<Utc>,
    options: &ExportOptions,
    diff: &mut Diff,
) -> Result<Summary, ExportError> {
    let new_writer = || csv::Writer::from_writer(Vec::with_capacity(options.flush_bytes + 4096));
    let mut csv = new_writer();
    let capabilities = directory.capabilities();
    let with_site = !capabilities.scopes.is_empty();
    let tenants = tenant_names(directory).await;
    let extra: Vec<&str> = [(with_site, SITE_COLUMN), (tenants.is_some(), TENANT_COLUMN)]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    csv.write_record(HEADER.iter().chain(extra.iter()))?;
    let mut summary = Summary::with_thresholds(options.thresholds);
    summary.trust_last_login = options.trust_last_login;
    summary.last_login_available = capabilities.last_login;
    let query = UserQuery {
        page_size: options.page_size,
        prefetch: options.prefetch,
        fields: Some(FIELDS.map(String::from).to_vec()),
        ..UserQuery::default()
    };
    options.progress.start("exporting users", None);
    let mut users = directory.users(query);
    while let Some(user) = users.next().await {
        let user = user?;
        options.progress.advance(1);
        let cells = row(&user, names);
        let standing = summary.add(&user, names.role(&user), now);
        diff.compare(&cells, options.flush_bytes).await?;
        let site = with_site.then(|| neutralise(user.scope.as_deref().unwrap_or_default()));
        let tenant = tenants.as_ref().map(|t| {
            let id = user.tenant_id.as_deref().unwrap_or_default();
            let name = t.get(id).map_or(id, String::as_str);
            summary.add_tenant(name, names.role(&user), &standing);
            neutralise(name)
        });
        csv.write_record(
            cells
                .iter()
                .map(|c| c.as_bytes())
                .chain(site.as_ref().map(|s| s.as_bytes()))
                .chain(tenant.as_ref().map(|t| t.as_bytes())),
        )?;
        csv.flush().map_err(csv::Error::from)?;
        if csv.get_ref().len() >= options.flush_bytes {
            let full = std::mem::replace(&mut csv, new_writer());
            upload.write(&into_bytes(full)?).await?;
        }
    }
    upload.write(&into_bytes(csv)?).await?;
    Ok(summary)
}

/// Tenant names by id, where the installation reports tenants; a failure to read them is logged, never fatal
/// (the export is then written without the tenant column).
async fn tenant_names(
    directory: &dyn Directory,
) -> Option<std::collections::HashMap<String, String>> {
    match directory.tenants().await {
        Ok(tenants) => tenants.map(|t| t.into_iter().map(|t| (t.id, t.name)).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "tenants could not be read; exporting without the tenant column");
            None
        }
    }
}

/// Whether the listing returned every user. It ends only on an empty page; the server's count, where it has one,
/// is a second witness. Users created or deleted meanwhile move the count one way, so the lower of the counts
/// before and after is the least a complete listing returns.
fn complete(summary: &Summary, before: Option<u64>, after: Option<u64>) -> Result<(), ExportError> {
    match before.min(after) {
        Some(counted) if summary.users < counted => Err(JobError::Incomplete {
            listed: summary.users,
            counted,
        }),
        _ => Ok(()),
    }
}

/// The server's user count, or `None` where it has none or it could not be read (the empty last page still
/// proves the listing complete).
async fn count(directory: &dyn Directory) -> Option<u64> {
    match directory.count_users().await {
        Ok(count) => count,
        Err(e) => {
            tracing::warn!(error = %e, "the user count could not be read; relying on the listing's empty last page");
            None
        }
    }
}
