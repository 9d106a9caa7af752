//! `roles` and `groups`: what names the import and the protections can use.

use serde_json::json;
use sisense::Directory;

use super::Context;
use crate::error::{CliError, Exit};
use crate::output::Outcome;

/// Lists the roles: API name, display name and id.
pub async fn roles(ctx: &Context<'_>) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let roles = client.roles(None).await?;
    let mut text = format!("{:<16} {:<16} {}\n", "NAME", "DISPLAY NAME", "ID");
    for role in &roles {
        text.push_str(&format!(
            "{:<16} {:<16} {}\n",
            role.name,
            role.display_name.as_deref().unwrap_or(""),
            role.id
        ));
    }
    Ok(Outcome {
        exit: Exit::Success,
        json: json!(roles),
        text,
    })
}

/// Lists the groups: name and id (names are not unique in Sisense; duplicates are marked).
pub async fn groups(ctx: &Context<'_>) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let groups = client.groups(None).await?;
    let mut text = format!("{:<32} {}\n", "NAME", "ID");
    for group in &groups {
        let twins = groups
            .iter()
            .filter(|g| g.name.eq_ignore_ascii_case(&group.name))
            .count();
        let note = if twins > 1 {
            "  (name not unique: imports naming it are refused)"
        } else {
            ""
        };
        text.push_str(&format!("{:<32} {}{note}\n", group.name, group.id));
    }
    Ok(Outcome {
        exit: Exit::Success,
        json: json!(groups),
        text,
    })
}
