//! A model of the CSV files people upload, for property tests and the fuzz runner: rows of cells with every
//! awkward character, written the way a spreadsheet writes them (RFC 4180 quoting) with any line endings, and
//! the invariants the reader and planner must keep on them.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use lifecycle::import::{
    Column, FileError, InputFile, OnExisting, PlanContext, Resolvers, Step, parse, plan,
};
use proptest::prelude::*;
use sisense::{Capabilities, GroupResolver, RoleResolver};

/// The columns every generated file has, in order.
pub const HEADER: [&str; 4] = ["email", "first_name", "last_name", "groups"];
const COLUMNS: [Column; 4] = [
    Column::Email,
    Column::FirstName,
    Column::LastName,
    Column::Groups,
];

/// One generated file: its rows, how it is written, and the bytes.
#[derive(Debug, Clone)]
pub struct Model {
    /// Cells per row, as written (before the reader trims them).
    pub rows: Vec<[String; 4]>,
    /// The line each row starts on (the header is line 1).
    pub lines: Vec<usize>,
    /// The file.
    pub bytes: Vec<u8>,
}

/// Characters a cell is made of: letters, the delimiters, quotes, every line ending, spaces, tab, non-ASCII.
fn cell_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::range('a', 'z'),
        1 => Just(','),
        1 => Just(';'),
        1 => Just('"'),
        1 => Just('\n'),
        1 => Just('\r'),
        1 => Just(' '),
        1 => Just('\t'),
        1 => Just('é'),
        1 => Just('\u{0}'),
        1 => Just('|'),
        1 => Just('='),
    ]
}

fn cell(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(cell_char(), 0..max).prop_map(|c| c.into_iter().collect())
}

/// A row whose email cell is never blank (a blank row is skipped by design, so it is not a data row).
fn row() -> impl Strategy<Value = [String; 4]> {
    (
        "[a-z]{1,6}@[a-z]{1,4}\\.test",
        cell(12),
        cell(12),
        cell(12),
        cell(6),
    )
        .prop_map(|(email, first, last, groups, noise)| {
            // Some emails carry awkward characters too (they must come back intact, then fail validation).
            let email = if noise.contains('"') {
                format!("{email}{noise}")
            } else {
                email
            };
            [email, first, last, groups]
        })
}

fn ending() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

/// Writes a cell as a spreadsheet does: quoted when it holds a delimiter, quote, line break or edge space.
fn write_cell(cell: &str) -> String {
    let special = cell.contains([',', ';', '"', '\n', '\r'])
        || cell.starts_with([' ', '\t'])
        || cell.ends_with([' ', '\t']);
    if special {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// Line breaks as a reader counts them: CRLF, CR and LF are one each.
fn line_breaks(text: &str) -> usize {
    text.replace("\r\n", "\n").matches(['\n', '\r']).count()
}

/// Whole files: a header, 1 to 40 rows, any line endings, with or without a BOM and a final line ending.
pub fn model() -> impl Strategy<Value = Model> {
    (
        proptest::collection::vec((row(), ending()), 1..40),
        ending(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(rows, header_end, bom, final_end)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            text.push_str(&HEADER.join(","));
            text.push_str(header_end);
            let mut lines = Vec::new();
            let count = rows.len();
            for (i, (cells, end)) in rows.iter().enumerate() {
                lines.push(1 + line_breaks(&text));
                let written: Vec<String> = cells.iter().map(|c| write_cell(c)).collect();
                text.push_str(&written.join(","));
                if i + 1 < count || final_end {
                    text.push_str(end);
                }
            }
            Model {
                rows: rows.into_iter().map(|(cells, _)| cells).collect(),
                lines,
                bytes: text.into_bytes(),
            }
        })
}

/// What the reader must do with a well-formed file: keep every row, in order, each on its own line, each cell
/// exactly as written (trimmed) and never another row's text.
pub fn check_roundtrip(model: &Model) -> Result<(), TestCaseError> {
    let file = match parse(&model.bytes, 100_000) {
        Ok(file) => file,
        // NUL-heavy cells may look like UTF-16; that is a whole-file rejection, never a lost row.
        Err(FileError::NotText { .. }) => return Ok(()),
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "rejected a well-formed file: {e}"
            )));
        }
    };
    prop_assert_eq!(file.rows.len(), model.rows.len(), "every data row is read");
    for (i, (read, written)) in file.rows.iter().zip(&model.rows).enumerate() {
        prop_assert_eq!(read.row, model.lines[i], "row {} starts on its line", i);
        prop_assert!(
            read.shape_error.is_none(),
            "row {}: {:?}",
            i,
            read.shape_error
        );
        for (column, cell) in COLUMNS.iter().zip(written) {
            let expected = cell.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(read.get(*column), expected.trim(), "row {} {:?}", i, column);
        }
    }
    check_plan(&file)
}

/// What the planner must do with any file the reader accepts: one step (or more, one per site) per row, on
/// that row's number, and no panic.
pub fn check_plan(file: &InputFile) -> Result<(), TestCaseError> {
    let capabilities = Capabilities::sisense("Sisense");
    let names = HashMap::from([(
        String::new(),
        Resolvers {
            roles: RoleResolver::new(Vec::new()),
            groups: GroupResolver::new(Vec::new()),
        },
    )]);
    let (existing, at_start) = (HashMap::new(), HashSet::new());
    let planned = plan(
        file,
        &PlanContext {
            capabilities: &capabilities,
            names: &names,
            default_role: "consumer",
            existing: &existing,
            existing_names: &HashMap::new(),
            tenancy: None,
            existing_at_start: &at_start,
            on_existing: OnExisting::Skip,
        },
    );
    let rows: Vec<usize> = file.rows.iter().map(|r| r.row).collect();
    let planned_rows: Vec<usize> = planned.iter().map(|p| p.row).collect();
    prop_assert_eq!(planned_rows, rows, "one step per row, in order");
    for (p, row) in planned.iter().zip(&file.rows) {
        // A step never carries a cell of another row: a create is made of this row's cells only.
        if let Step::Create(new) = &p.step {
            prop_assert_eq!(new.email.as_str(), row.get(Column::Email));
        }
    }
    Ok(())
}

/// What the reader must do with any bytes at all: no panic, rows in line order, every row number on a line
/// of the file.
pub fn check_any_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(file) = parse(bytes, 100_000) {
        let text = String::from_utf8_lossy(bytes);
        let lines = 1 + line_breaks(&text);
        let numbers: Vec<usize> = file.rows.iter().map(|r| r.row).collect();
        prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{:?}", numbers);
        prop_assert!(
            numbers.iter().all(|n| *n >= 2 && *n <= lines),
            "{:?} of {}",
            numbers,
            lines
        );
        check_plan(&file)?;
    }
    Ok(())
}
