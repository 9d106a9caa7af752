//! The input CSV: UTF-8 (BOM allowed), comma or semicolon (detected), LF, CRLF, CR-only or mixed line endings,
//! quoted fields, and headers matched by alias. Whole-file problems are [`FileError`]s (an empty file, one that
//! is not text, a quote never closed); row problems are left to validation.

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
    /// `tenant`, `tenant_name`: the tenant a row's user is in (multitenancy); must be within `TENANTS`.
    Tenant,
}

impl Column {
    /// Every column, in order.
    pub const ALL: [Column; COLUMNS] = [
        Column::Email,
        Column::UserName,
        Column::FirstName,
        Column::LastName,
        Column::Name,
        Column::Role,
        Column::Groups,
        Column::Password,
        Column::Site,
        Column::Tenant,
    ];

    /// The column's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Column::Email => "email",
            Column::UserName => "user_name",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Name => "name",
            Column::Role => "role",
            Column::Groups => "groups",
            Column::Password => "password",
            Column::Site => "site",
            Column::Tenant => "tenant",
        }
    }
}

/// Header spellings per column, already folded (lowercase, no spaces, underscores or dashes).
const ALIASES: [(&str, Column); 22] = [
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
    ("tenant", Column::Tenant),
    ("tenantname", Column::Tenant),
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
    /// Nothing at all (or only white space).
    #[error("the file is empty")]
    Empty,
    /// A header and no data rows.
    #[error("the file has a header but no data rows")]
    HeaderOnly,
    /// Not text: a compressed file, a workbook, UTF-16.
    #[error("the file is not CSV text: it looks like {what}; save it as CSV UTF-8 and upload that")]
    NotText {
        /// What it looks like.
        what: &'static str,
    },
    /// A quote that opens a field and is never closed: every line after it would be swallowed into one cell.
    #[error(
        "a quote opened on line {line} is never closed, so every line after it would be read as one cell; \
         close the quote (a quote inside a quoted cell is written twice: \"\") and upload again"
    )]
    UnterminatedQuote {
        /// The line the quote opened on (the header is line 1).
        line: usize,
    },
    /// The CSV reader failed (e.g. an unterminated quote).
    #[error("the file is not valid CSV: {0}")]
    NotCsv(String),
    /// No column maps to email.
    #[error("no email column: expected one of email, email_address, mail; found headers {found}")]
    NoEmailColumn {
        /// The headers found, comma separated (at most [`LIST_ECHO`] of them, each cut to [`CELL_ECHO`]).
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

/// How many [`Column`]s there are.
const COLUMNS: usize = Column::Tenant as usize + 1;

/// One data row: the line it starts on (the header is line 1; equal to the spreadsheet row unless an earlier
/// cell holds a line break) and its cells by column.
///
/// A file of 100,000 rows is held whole while it is planned, so a row keeps its cells' text in one allocation,
/// indexed in place, not in a map of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// The line the row starts on (the header is line 1).
    pub row: usize,
    /// The trimmed cells' text, end to end, in column order.
    text: Box<str>,
    /// Where each column's text ends in `text` (an absent column's text is empty).
    ends: [u32; COLUMNS],
    /// The columns present, a bit per column.
    present: u16,
    /// Set when the row has a different number of fields than the header.
    pub shape_error: Option<Box<str>>,
}

impl InputRow {
    /// A row of `cells` (trimmed here); a column given twice keeps its first cell.
    pub fn new<'a>(
        row: usize,
        cells: impl IntoIterator<Item = (Column, &'a str)>,
        shape_error: Option<String>,
    ) -> Self {
        let mut by_column: [Option<&str>; COLUMNS] = [None; COLUMNS];
        for (column, cell) in cells {
            by_column[column as usize].get_or_insert(cell.trim());
        }
        let mut text = String::with_capacity(by_column.iter().flatten().map(|c| c.len()).sum());
        let mut ends = [0; COLUMNS];
        let mut present = 0;
        for (i, cell) in by_column.iter().enumerate() {
            if let Some(cell) = cell {
                text.push_str(cell);
                present |= 1 << i;
            }
            // A row is at most a few kilobytes of text (the file's limits).
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        InputRow {
            row,
            text: text.into_boxed_str(),
            ends,
            present,
            shape_error: shape_error.map(String::into_boxed_str),
        }
    }

    /// The present cells, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (Column, &str)> {
        Column::ALL
            .into_iter()
            .filter(|column| self.has(*column))
            .map(|column| (column, self.get(column)))
    }

    /// Whether the file has `column` (its cell may be empty).
    pub fn has(&self, column: Column) -> bool {
        self.present & (1 << column as usize) != 0
    }

    /// The trimmed cell, or `""`.
    pub fn get(&self, column: Column) -> &str {
        let i = column as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text
            .get(start as usize..self.ends[i] as usize)
            .unwrap_or("")
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

/// How many items of a list a message or response echoes; the rest are counted.
pub const LIST_ECHO: usize = 20;
/// How many characters of one cell or header a message or response echoes.
pub const CELL_ECHO: usize = 100;

/// At most [`CELL_ECHO`] characters of `text`, marked when cut.
pub fn cut(text: &str) -> String {
    match text.char_indices().nth(CELL_ECHO) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// At most [`LIST_ECHO`] items, each [`cut`], and how many were left out.
pub fn bounded_list<'a>(items: impl IntoIterator<Item = &'a str>) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    let mut left_out = 0;
    for item in items {
        if kept.len() < LIST_ECHO {
            kept.push(cut(item));
        } else {
            left_out += 1;
        }
    }
    (kept, left_out)
}

/// What a file that is not CSV text looks like, from its first bytes.
fn not_text(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(4096)];
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some("gzip-compressed data");
    }
    if head.starts_with(b"PK\x03\x04") {
        return Some("a zip archive or an Excel workbook (.xlsx)");
    }
    if head.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]) {
        return Some("an old Excel workbook (.xls)");
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Some("UTF-16 text (\"Unicode text\" in Excel)");
    }
    // UTF-16 without a BOM: ASCII text has a NUL every other byte.
    let nuls = head.iter().filter(|b| **b == 0).count();
    if head.len() >= 4 && nuls * 4 >= head.len() {
        return Some("UTF-16 text without a byte-order mark, or binary data");
    }
    None
}

/// Every line ending (CRLF, CR or LF) as LF, so that line numbers count what a spreadsheet shows.
fn normalise_line_endings(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        text.into()
    }
}

/// The line of a quote that opens a field and is never closed, reading as the CSV reader does: a quote opens a
/// quoted field only at the start of a field; inside one, a doubled quote is a literal quote.
fn unterminated_quote(text: &str, delimiter: u8) -> Option<usize> {
    let (mut line, mut opened_on) = (1, None);
    let mut at_field_start = true;
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        match (opened_on, b) {
            (Some(_), b'"') if bytes.peek() == Some(&b'"') => {
                bytes.next();
            }
            (Some(_), b'"') => opened_on = None,
            (Some(_), b'\n') => line += 1,
            (Some(_), _) => {}
            (None, b'"') if at_field_start => opened_on = Some(line),
            (None, b'\n') => {
                line += 1;
                at_field_start = true;
                continue;
            }
            (None, d) if d == delimiter => {
                at_field_start = true;
                continue;
            }
            (None, _) => {}
        }
        at_field_start = false;
    }
    opened_on
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
    let text = text_of(bytes)?;
    let text = normalise_line_endings(text);
    let text = text.as_ref();
    let delimiter = detect_delimiter(text);
    if let Some(line) = unterminated_quote(text, delimiter) {
        return Err(FileError::UnterminatedQuote { line });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| FileError::NotCsv(e.to_string()))?
        .clone();
    let (columns, ignored_headers) = columns_of(&headers)?;
    let rows = rows_of(&mut reader, text.as_bytes(), &headers, &columns, max_rows)?;
    if rows.is_empty() {
        return Err(FileError::HeaderOnly);
    }
    Ok(InputFile {
        delimiter,
        columns: columns.into_iter().map(|(_, c)| c).collect(),
        ignored_headers,
        rows,
    })
}

/// The file as text: not binary, UTF-8 (a byte-order mark dropped), not empty.
fn text_of(bytes: &[u8]) -> Result<&str, FileError> {
    if let Some(what) = not_text(bytes) {
        return Err(FileError::NotText { what });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        FileError::NotUtf8 {
            offset,
            line: bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok(text)
}

/// The known columns with their positions in the header.
type Positions = Vec<(usize, Column)>;

/// The known columns by position (each once, an email column required) and the headers ignored.
fn columns_of(headers: &csv::StringRecord) -> Result<(Positions, Vec<String>), FileError> {
    let mut columns: Vec<(usize, Column)> = Vec::new();
    let mut ignored_headers = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        match column(header) {
            Some(col) => {
                if let Some((j, _)) = columns.iter().find(|(_, c)| *c == col) {
                    return Err(FileError::DuplicateColumn {
                        first: cut(&headers[*j]),
                        second: cut(header),
                    });
                }
                columns.push((i, col));
            }
            None if header.trim().is_empty() => {}
            None => ignored_headers.push(header.to_string()),
        }
    }
    if !columns.iter().any(|(_, c)| *c == Column::Email) {
        let (mut found, left_out) = bounded_list(headers.iter());
        if left_out > 0 {
            found.push(format!("and {left_out} more"));
        }
        return Err(FileError::NoEmailColumn {
            found: found.join(", "),
        });
    }
    Ok((columns, ignored_headers))
}

/// The data rows, each with its line number (blank rows skipped), at most `max_rows`.
fn rows_of(
    reader: &mut csv::Reader<&[u8]>,
    body: &[u8],
    headers: &csv::StringRecord,
    columns: &[(usize, Column)],
    max_rows: usize,
) -> Result<Vec<InputRow>, FileError> {
    // At most one row per line: sized once, never doubled and copied while a large file is read.
    let lines = body.iter().filter(|b| **b == b'\n').count() + 1;
    let mut rows = Vec::with_capacity(lines.min(max_rows));
    let (mut seen_bytes, mut seen_lines) = (0, 0);
    for record in reader.records() {
        let record = record.map_err(|e| FileError::NotCsv(e.to_string()))?;
        // Count the newlines before the record (line endings are all LF by now). The position may point at the
        // terminator before the record (and blank lines): skip past them.
        let mut byte = record.position().map_or(seen_bytes, |p| p.byte() as usize);
        while body.get(byte).is_some_and(|b| *b == b'\n') {
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
            .filter_map(|(i, col)| record.get(*i).map(|v| (*col, v)));
        rows.push(InputRow::new(line, cells, shape_error));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_keeps_each_cell_trimmed_under_its_column_whatever_the_order() {
        let row = InputRow::new(
            7,
            [
                (Column::Site, " east "),
                (Column::Email, "a@x.io"),
                (Column::Groups, ""),
                (Column::Email, "second@x.io"),
                (Column::Name, " Ann  Lee "),
            ],
            None,
        );
        assert_eq!(
            row.cells().collect::<Vec<_>>(),
            [
                (Column::Email, "a@x.io"),
                (Column::Name, "Ann  Lee"),
                (Column::Groups, ""),
                (Column::Site, "east"),
            ]
        );
        assert!(row.has(Column::Groups), "an empty cell is present");
        assert!(!row.has(Column::Role));
        assert_eq!(row.get(Column::Role), "");
        assert_eq!(row.get(Column::Site), "east");
        assert_eq!(Column::ALL.len(), COLUMNS);
        for (i, column) in Column::ALL.into_iter().enumerate() {
            assert_eq!(column as usize, i, "{column:?}");
        }
    }

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
    fn quotes_open_only_at_a_field_start_and_doubled_quotes_stay_inside() {
        assert_eq!(unterminated_quote("a,\"b\"\"c\"\nd,e\n", b','), None);
        assert_eq!(
            unterminated_quote("a,b\"c\nd,e\n", b','),
            None,
            "mid-field quote"
        );
        assert_eq!(
            unterminated_quote("h\na,\"two\nlines\"\nb,\"open\nc,d\n", b','),
            Some(4)
        );
        assert_eq!(unterminated_quote("h;x\n\"a;b\n", b';'), Some(2));
        assert_eq!(
            parse(b"email,name\r\na@x.io,\"Bob\r\nb@x.io,Cy\r\n", 10).unwrap_err(),
            FileError::UnterminatedQuote { line: 2 }
        );
    }

    #[test]
    fn every_line_ending_counts_one_line() {
        for text in [
            &b"email\ra@x.io\rb@x.io\r"[..],
            b"email\na@x.io\r\nb@x.io",
            b"email\r\na@x.io\rb@x.io\n",
        ] {
            let rows: Vec<usize> = parse(text, 10)
                .unwrap()
                .rows
                .iter()
                .map(|r| r.row)
                .collect();
            assert_eq!(rows, [2, 3], "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn files_that_are_not_text_are_named() {
        for (bytes, what) in [
            (&[0x1f, 0x8b, 0x08][..], "gzip"),
            (b"PK\x03\x04rest", ".xlsx"),
            (&[0xd0, 0xcf, 0x11, 0xe0, 0xa1][..], ".xls"),
            (&[0xff, 0xfe, b'e', 0][..], "UTF-16"),
            (&[b'e', 0, b'm', 0, b'a', 0, b'i', 0, b'l', 0][..], "UTF-16"),
        ] {
            let err = parse(bytes, 10).unwrap_err();
            assert!(
                matches!(err, FileError::NotText { what: w } if w.contains(what)),
                "{err}"
            );
        }
        // One NUL in a cell is a row problem for validation, not a file that is not text.
        assert!(parse(b"email,first_name\na@x.io,A\0n\n", 10).is_ok());
    }

    #[test]
    fn echoed_lists_and_cells_are_bounded() {
        let long = "x".repeat(500);
        assert_eq!(cut(&long).chars().count(), CELL_ECHO + 1);
        assert_eq!(cut("short"), "short");
        let items: Vec<String> = (0..50).map(|i| format!("h{i}")).collect();
        let (kept, left_out) = bounded_list(items.iter().map(String::as_str));
        assert_eq!((kept.len(), left_out), (LIST_ECHO, 30));
        let header = format!("{}\nnothing\n", vec![long.as_str(); 1000].join(","));
        let err = parse(header.as_bytes(), 10).unwrap_err().to_string();
        assert!(err.len() < 4000 && err.ends_with("and 980 more"), "{err}");
    }

    #[test]
    fn whole_file_errors_are_specific() {
        assert_eq!(
            parse(b"email\n\xff\xfe\n", 10).unwrap_err(),
            FileError::NotUtf8 { offset: 6, line: 2 }
        );
        assert_eq!(parse(b"email\n", 10).unwrap_err(), FileError::HeaderOnly);
        assert_eq!(parse(b"", 10).unwrap_err().to_string(), "the file is empty");
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
