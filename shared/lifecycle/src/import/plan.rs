//! Validation and planning: every row becomes exactly one [`Step`], decided before any write.

use std::collections::{HashMap, HashSet};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sisense::{GroupResolver, NewUser, RoleResolver, User, UserPatch};

use super::input::{Column, InputFile, InputRow};

/// What to do with a row whose email already exists in Sisense.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// Leave the user as it is.
    #[default]
    Skip,
    /// Patch names, role and groups from the row (only the cells that are filled).
    Update,
    /// Report the row as invalid.
    Error,
}

impl std::str::FromStr for OnExisting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(OnExisting::Skip),
            "update" => Ok(OnExisting::Update),
            "error" => Ok(OnExisting::Error),
            other => Err(format!(
                "unknown onExisting {other:?}; expected skip, update or error"
            )),
        }
    }
}

/// The decision for one row.
#[derive(Debug, Clone)]
pub enum Step {
    /// Invalid: reported, never written.
    Invalid(String),
    /// Existing user left alone.
    Skip {
        /// The user's id.
        id: String,
        /// Why.
        message: String,
    },
    /// New user to create.
    Create(Box<NewUser>),
    /// Existing user to patch.
    Update {
        /// The user's id.
        id: String,
        /// The change.
        patch: UserPatch,
    },
    /// Absent when the import started, present now: created by an earlier hop of this import.
    AlreadyCreated {
        /// The user's id.
        id: String,
    },
}

/// One planned row.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Spreadsheet row number.
    pub row: usize,
    /// The email as written (trimmed).
    pub email: String,
    /// What to do.
    pub step: Step,
}

/// What planning needs besides the file.
pub struct Context<'a> {
    /// This installation's roles.
    pub roles: &'a RoleResolver,
    /// This installation's groups.
    pub groups: &'a GroupResolver,
    /// Role for rows with an empty role cell (new users only).
    pub default_role: &'a str,
    /// Existing users by lowercase email, as listed now.
    pub existing: &'a HashMap<String, User>,
    /// Lowercase emails that existed when the import started (first hop).
    pub existing_at_start: &'a HashSet<String>,
    /// Policy for existing users.
    pub on_existing: OnExisting,
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces or control characters.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Splits a full name at its last space: `Mary Ann Smith` -> (`Mary Ann`, `Smith`).
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(first.into()), Some(last.into())),
        None if name.is_empty() => (None, None),
        None => (Some(name), None),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Plans every row of `file`.
pub fn plan(file: &InputFile, ctx: &Context<'_>) -> Vec<Planned> {
    let mut rows_by_email: HashMap<String, Vec<usize>> = HashMap::new();
    for row in &file.rows {
        let email = row.get(Column::Email).to_lowercase();
        if !email.is_empty() {
            rows_by_email.entry(email).or_default().push(row.row);
        }
    }
    file.rows
        .iter()
        .map(|row| {
            let email = row.get(Column::Email).to_string();
            let step = plan_row(row, &email, &rows_by_email, ctx).unwrap_or_else(Step::Invalid);
            Planned {
                row: row.row,
                email,
                step,
            }
        })
        .collect()
}

fn plan_row(
    row: &InputRow,
    email: &str,
    rows_by_email: &HashMap<String, Vec<usize>>,
    ctx: &Context<'_>,
) -> Result<Step, String> {
    if let Some(shape) = &row.shape_error {
        return Err(format!("malformed row: {shape}"));
    }
    if email.is_empty() {
        return Err("email is empty".into());
    }
    if !valid_email(email) {
        return Err(format!("invalid email {email:?}"));
    }
    let key = email.to_lowercase();
    if let Some(rows) = rows_by_email.get(&key).filter(|r| r.len() > 1) {
        let list = rows.iter().map(usize::to_string).collect::<Vec<_>>();
        return Err(format!(
            "email appears more than once in the file (rows {}); fix the file, no row of it is imported",
            list.join(", ")
        ));
    }
    let role_cell = row.get(Column::Role);
    let role = match role_cell {
        "" => None,
        name => Some(
            ctx.roles
                .resolve(name)
                .map_err(|e| e.to_string())?
                .id
                .clone(),
        ),
    };
    let mut groups = Vec::new();
    for name in row
        .get(Column::Groups)
        .split([';', '|'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if let Some(group) = ctx.groups.resolve(name).map_err(|e| e.to_string())?
            && !groups.contains(&group.id)
        {
            groups.push(group.id.clone());
        }
    }
    let (mut first, mut last) = (
        non_empty(row.get(Column::FirstName)),
        non_empty(row.get(Column::LastName)),
    );
    if !file_has_split_names(row) {
        (first, last) = split_name(row.get(Column::Name));
    }

    if let Some(user) = ctx.existing.get(&key) {
        if !ctx.existing_at_start.contains(&key) {
            return Ok(Step::AlreadyCreated {
                id: user.id.clone(),
            });
        }
        return match ctx.on_existing {
            OnExisting::Skip => Ok(Step::Skip {
                id: user.id.clone(),
                message: "user already exists (onExisting=skip)".into(),
            }),
            OnExisting::Error => Err(format!(
                "user already exists with id {} (onExisting=error)",
                user.id
            )),
            OnExisting::Update => {
                let patch = changes(user, first, last, role, row.get(Column::Groups), groups);
                if patch.is_empty() {
                    Ok(Step::Skip {
                        id: user.id.clone(),
                        message: "already up to date".into(),
                    })
                } else {
                    Ok(Step::Update {
                        id: user.id.clone(),
                        patch,
                    })
                }
            }
        };
    }
    let role_id = match role {
        Some(id) => id,
        None => ctx
            .roles
            .resolve(ctx.default_role)
            .map_err(|e| format!("no role given and DEFAULT_ROLE does not resolve: {e}"))?
            .id
            .clone(),
    };
    Ok(Step::Create(Box::new(NewUser {
        email: email.to_string(),
        user_name: non_empty(row.get(Column::UserName)),
        first_name: first,
        last_name: last,
        role_id,
        groups,
        password: non_empty(row.get(Column::Password)).map(SecretString::from),
    })))
}

/// Whether the row's file has first or last name columns (then `name` is not split).
fn file_has_split_names(row: &InputRow) -> bool {
    row.cells.contains_key(&Column::FirstName) || row.cells.contains_key(&Column::LastName)
}

/// The patch that brings `user` to the row's filled cells; empty cells change nothing.
fn changes(
    user: &User,
    first: Option<String>,
    last: Option<String>,
    role: Option<String>,
    groups_cell: &str,
    groups: Vec<String>,
) -> UserPatch {
    let current: HashSet<&str> = user.group_ids().collect();
    let wanted: HashSet<&str> = groups.iter().map(String::as_str).collect();
    UserPatch {
        first_name: first.filter(|f| user.first_name.as_deref() != Some(f.as_str())),
        last_name: last.filter(|l| user.last_name.as_deref() != Some(l.as_str())),
        role_id: role.filter(|r| user.role_id() != Some(r.as_str())),
        groups: (!groups_cell.trim().is_empty() && current != wanted).then_some(groups),
        active: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_syntax() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "o'brien@x.ie"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@b..co", "a@.b.co", "a@b.co.",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn full_names_split_at_the_last_space() {
        assert_eq!(
            split_name("Mary  Ann Smith"),
            (Some("Mary Ann".into()), Some("Smith".into()))
        );
        assert_eq!(split_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(split_name("  "), (None, None));
    }

    #[test]
    fn on_existing_parses_case_insensitively() {
        assert_eq!("UPDATE".parse::<OnExisting>(), Ok(OnExisting::Update));
        assert!(
            "merge"
                .parse::<OnExisting>()
                .unwrap_err()
                .contains("skip, update or error")
        );
    }
}
