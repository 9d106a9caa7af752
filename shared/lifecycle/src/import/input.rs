//! The input CSV: UTF-8 (BOM allowed), comma or semicolon (detected), CRLF or LF, quoted fields, and headers
//! matched by alias. Whole-file problems are [`FileError`]s; row problems are left to validation.

use std::collections::BTreeMap;

/// A column the importer understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    /// `email`, `email_address`, `mail`.
    Email,
    /// `username`, `user_name`, `login`.
    UserName,
    /// `first_name`, `given_name`.
    FirstName,
    /// `last_name`, `surname`, `family_name`.
    LastName,
    /// `name`: a full name, split when first/last are absent.
    Name,
    /// `role`, `role_name`, `roleid`.
    Role,
    /// `groups`, `group`, `group_names`.
    Groups,
    /// `password`.
    Password,
    /// `site`, `site_name`: the Periscope site(s) a row is for (`;` or `|` separated; empty = every site).
    Site,
}

/// Header spellings per column, already folded (lowercase, no spaces, underscores or dashes).
const ALIASES: [(&str, Column); 20] = [
    ("email", Column::Email),
    ("emailaddress", Column::Email),
    ("mail", Column::Email),
    ("username", Column::UserName),
    ("login", Column::UserName),
    ("firstname", Column::FirstName),
    ("givenname", Column::FirstName),
    ("lastname", Column::LastName),
    ("surname", Column::LastName),
    ("familyname", Column::LastName),
    ("name", Column::Name),
    ("role", Column::Role),
    ("rolename", Column::Role),
    ("roleid", Column::Role),
    ("groups", Column::Groups),
    ("group", Column::Groups),
    ("groupnames", Column::Groups),
    ("password", Column::Password),
    ("site", Column::Site),
    ("sitename", Column::Site),
];

/// Folds a header: lowercase, without spaces, underscores or dashes.
pub fn fold_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The column a header names, if any.
pub fn column(header: &str) -> Option<Column> {
    let folded = fold_header(header);
    ALIASES.iter().find(|(a, _)| *a == folded).map(|(_, c)| *c)
}

/// Why the whole file cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Not UTF-8.
    #[error(
        "the file is not UTF-8: invalid byte sequence at byte {offset} (line {line}); save it as CSV UTF-8"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
        /// Its line (1-based).
        line: usize,
    },
    /// Empty, or only a header.
    #[error("the file has no data rows")]
    Empty,
    /// The CSV reader failed (e.g. an unterminated quote).
    #[error("the file is not valid CSV: {0}")]
    NotCsv(String),
    /// No column maps to email.
    #[error("no email column: expected one of email, email_address, mail; found headers {found}")]
    NoEmailColumn {
        /// The headers found, comma separated.
        found: String,
    },
    /// Two headers map to the same column.
    #[error("headers {first:?} and {second:?} both mean the same column; keep one")]
    DuplicateColumn {
        /// The first header.
        first: String,
        /// The second header.
        second: String,
    },
    /// More data rows than allowed.
    #[error("the file has more than {max} data rows (MAX_ROWS); split it")]
    TooManyRows {
        /// The limit.
        max: usize,
    },
}

/// One data row: the line it starts on (the header is line 1; equal to the spreadsheet row unless an earlier
/// cell holds a line break) and its cells by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// The line the row starts on (the header is line 1).
    pub row: usize,
    /// Cells by column, trimmed; missing columns are absent.
    pub cells: BTreeMap<Column, String>,
    /// Set when the row has a different number of fields than the header.
    pub shape_error: Option<String>,
}

impl InputRow {
    /// The trimmed cell, or `""`.
    pub fn get(&self, column: Column) -> &str {
        self.cells.get(&column).map_or("", String::as_str)
    }
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// `,` or `;`.
    pub delimiter: u8,
    /// Columns present.
    pub columns: Vec<Column>,
    /// Headers not understood (ignored).
    pub ignored_headers: Vec<String>,
    /// Data rows, blank lines skipped.
    pub rows: Vec<InputRow>,
}

/// Counts `,` and `;` outside quotes on the header line; semicolon wins only when strictly more frequent.
fn detect_delimiter(text: &str) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => break,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// Parses the file; at most `max_rows` data rows.
pub fn parse(bytes: &[u8], max_rows: usize) -> Result<InputFile, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        FileError::NotUtf8 {
            offset,
            line: bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delimiter = detect_delimiter(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| FileError::NotCsv(e.to_string()))?
        .clone();
    let mut columns: Vec<(usize, Column)> = Vec::new();
    let mut ignored_headers = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        match column(header) {
            Some(col) => {
                if let Some((j, _)) = columns.iter().find(|(_, c)| *c == col) {
                    return Err(FileError::DuplicateColumn {
                        first: headers[*j].to_string(),
                        second: header.to_string(),
                    });
                }
                columns.push((i, col));
            }
            None if header.trim().is_empty() => {}
            None => ignored_headers.push(header.to_string()),
        }
    }
    if !columns.iter().any(|(_, c)| *c == Column::Email) {
        return Err(FileError::NoEmailColumn {
            found: headers.iter().collect::<Vec<_>>().join(", "),
        });
    }
    let mut rows = Vec::new();
    let body = text.as_bytes();
    let (mut seen_bytes, mut seen_lines) = (0, 0);
    for record in reader.records() {
        let record = record.map_err(|e| FileError::NotCsv(e.to_string()))?;
        // csv's own line counter is off by one after a CRLF header; count the newlines before the record.
        // The position may point at the terminator before the record (and blank lines): skip past them.
        let mut byte = record.position().map_or(seen_bytes, |p| p.byte() as usize);
        while body.get(byte).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            byte += 1;
        }
        seen_lines += body[seen_bytes..byte.max(seen_bytes)]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        seen_bytes = byte.max(seen_bytes);
        let line = seen_lines + 1;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() == max_rows {
            return Err(FileError::TooManyRows { max: max_rows });
        }
        let shape_error = (record.len() != headers.len()).then(|| {
            format!(
                "has {} fields but the header has {}",
                record.len(),
                headers.len()
            )
        });
        let cells = columns
            .iter()
            .filter_map(|(i, col)| record.get(*i).map(|v| (*col, v.trim().to_string())))
            .collect();
        rows.push(InputRow {
            row: line,
            cells,
            shape_error,
        });
    }
    if rows.is_empty() {
        return Err(FileError::Empty);
    }
    Ok(InputFile {
        delimiter,
        columns: columns.into_iter().map(|(_, c)| c).collect(),
        ignored_headers,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fold_and_alias() {
        assert_eq!(column(" E-Mail Address "), Some(Column::Email));
        assert_eq!(column("MAIL"), Some(Column::Email));
        assert_eq!(column("Given_Name"), Some(Column::FirstName));
        assert_eq!(column("family-name"), Some(Column::LastName));
        assert_eq!(column("RoleID"), Some(Column::Role));
        assert_eq!(column("group names"), Some(Column::Groups));
        assert_eq!(column("login"), Some(Column::UserName));
        assert_eq!(column("department"), None);
    }

    #[test]
    fn bom_semicolons_crlf_quotes_and_embedded_newlines() {
        let file = "\u{feff}Mail;Given Name;Surname;Groups;Note\r\n\
                    a@x.io;\"Ann; Jr\";\"O'Neil\";\"Sales|Ops\";\"two\r\nlines\"\r\n\
                    \r\n\
                    b@x.io;Bob;;;\r\n";
        let parsed = parse(file.as_bytes(), 10).unwrap();
        assert_eq!(parsed.delimiter, b';');
        assert_eq!(parsed.ignored_headers, ["Note"]);
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].get(Column::FirstName), "Ann; Jr");
        assert_eq!(parsed.rows[0].get(Column::Groups), "Sales|Ops");
        assert_eq!(parsed.rows[0].row, 2);
        assert_eq!(
            parsed.rows[1].row, 5,
            "the line where the row starts: after a two-line cell and a blank line"
        );
        assert_eq!(parsed.rows[1].get(Column::LastName), "");
    }

    #[test]
    fn commas_win_ties_and_quoted_semicolons_do_not_count() {
        let parsed = parse(b"email,name\n\"a@x.io\",\"Smith; Ann\"\n", 10).unwrap();
        assert_eq!(parsed.delimiter, b',');
        assert_eq!(parsed.rows[0].get(Column::Name), "Smith; Ann");
    }

    #[test]
    fn ragged_rows_are_flagged_not_dropped() {
        let parsed = parse(b"email,first_name\na@x.io\nb@x.io,Bo,extra\n", 10).unwrap();
        assert_eq!(
            parsed.rows[0].shape_error.as_deref(),
            Some("has 1 fields but the header has 2")
        );
        assert!(parsed.rows[1].shape_error.is_some());
    }

    #[test]
    fn whole_file_errors_are_specific() {
        assert_eq!(
            parse(b"email\n\xff\xfe\n", 10).unwrap_err(),
            FileError::NotUtf8 { offset: 6, line: 2 }
        );
        assert_eq!(parse(b"email\n", 10).unwrap_err(), FileError::Empty);
        assert_eq!(
            parse(b"", 10).unwrap_err().to_string(),
            "no email column: expected one of email, email_address, mail; found headers "
        );
        let no_email = parse(b"name,role\nAnn,viewer\n", 10).unwrap_err();
        assert!(
            no_email.to_string().contains("found headers name, role"),
            "{no_email}"
        );
        assert!(matches!(
            parse(b"email,mail\na@x.io,b@x.io\n", 10).unwrap_err(),
            FileError::DuplicateColumn { .. }
        ));
        assert_eq!(
            parse(b"email\na@x.io\nb@x.io\nc@x.io\n", 2).unwrap_err(),
            FileError::TooManyRows { max: 2 }
        );
    }
}
