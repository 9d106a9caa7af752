//! The jobs stay readable in small steps: no function in `shared/lifecycle/src` (tests apart) is longer than
//! 80 lines, signature to closing brace.

use std::path::{Path, PathBuf};

const LIMIT: usize = 80;

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The name of the function a line starts, if it starts one.
fn starts_fn(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "fn" => {
                return words
                    .next()
                    .map(|w| w.split(['(', '<']).next().unwrap_or(w));
            }
            w if w == "pub" || w.starts_with("pub(") || w == "async" || w == "const" => {}
            _ => return None,
        }
    }
    None
}

/// `(lines, name, line)` of every function of `text` before its tests.
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim() == "#[cfg(test)]")
        .unwrap_or(lines.len());
    let mut found = Vec::new();
    for start in 0..end {
        let Some(name) = starts_fn(lines[start]) else {
            continue;
        };
        let (mut depth, mut opened) = (0i64, false);
        for (i, line) in lines[start..end].iter().enumerate() {
            if !opened && line.trim_end().ends_with(';') {
                break;
            }
            for c in line.chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((i + 1, name.to_string(), start + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_of_the_jobs_is_longer_than_80_lines() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut long = Vec::new();
    let mut counted = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (lines, name, line) in functions(&text) {
            counted += 1;
            if lines > LIMIT {
                long.push(format!("{}:{line} {name}: {lines} lines", file.display()));
            }
        }
    }
    assert!(counted > 300, "the scan found only {counted} functions");
    assert!(
        long.is_empty(),
        "longer than {LIMIT} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scan_measures_a_function_from_its_signature_to_its_closing_brace() {
    let text = "pub(crate) async fn a(x: u8) -> u8 {\n    let s = \"{}\";\n    x\n}\nfn b();\nconst fn c() {}\n";
    assert_eq!(
        functions(text),
        [(4, "a".to_string(), 1), (1, "c".to_string(), 6)]
    );
}
