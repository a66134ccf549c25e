//! A directory of CSV files as a provider: `<dir>/<SYMBOL>.csv` holds a symbol's daily bars,
//! and an optional `<dir>/profiles.csv` its company profile.
//!
//! A price file has a header with `date` and `close` (any case, any order) and optionally
//! `open`, `high`, `low`, `volume`; blank lines are skipped. Any defect makes the whole file
//! [`ProviderError::Invalid`], with a message naming the file, the line (header = line 1) and
//! the column. A symbol is only turned into a path when it is a plain name
//! (`[A-Za-z0-9._-]+`, not starting with `.`), so nothing outside the directory is read.

use super::{CompanyProfile, DailyBar, DataKind, MarketDataProvider, ProviderError};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The profiles file's name inside the directory.
pub const PROFILES_FILE: &str = "profiles.csv";

const PRICE_COLUMNS: [&str; 6] = ["date", "close", "open", "high", "low", "volume"];
const PROFILE_COLUMNS: [&str; 7] = [
    "symbol",
    "name",
    "sector",
    "industry",
    "beta",
    "market_cap",
    "is_etf",
];

/// Daily bars (and optionally profiles) from a directory of CSV files.
#[derive(Debug, Clone)]
pub struct FileProvider {
    dir: PathBuf,
    has_profiles: bool,
}

impl FileProvider {
    /// A provider on `dir`; it serves profiles when `dir/profiles.csv` exists now.
    pub fn new(dir: PathBuf) -> Self {
        let has_profiles = dir.join(PROFILES_FILE).is_file();
        Self { dir, has_profiles }
    }
}

/// Whether `symbol` may name a file: `[A-Za-z0-9._-]+`, not starting with `.`, with a letter
/// or digit.
fn plain_name(symbol: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    !symbol.is_empty()
        && !symbol.starts_with('.')
        && symbol.chars().all(allowed)
        && symbol.chars().any(|c| c.is_ascii_alphanumeric())
}

fn not_found(symbol: &str, reason: impl Into<String>) -> ProviderError {
    ProviderError::NotFound {
        symbol: symbol.to_owned(),
        reason: reason.into(),
    }
}

/// Where a value sits: for messages like `AAPL.csv line 7, column 2 (close)`.
struct Cell<'a> {
    file: &'a str,
    line: u64,
    column: usize,
    name: &'a str,
}

impl Cell<'_> {
    fn invalid(&self, what: impl std::fmt::Display) -> ProviderError {
        ProviderError::Invalid(format!(
            "{} line {}, column {} ({}): {what}",
            self.file,
            self.line,
            self.column + 1,
            self.name
        ))
    }
}

fn line_error(file: &str, line: u64, what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(format!("{file} line {line}: {what}"))
}

/// Shortens a cell echoed into a message.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    if cut.len() < value.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Reads a whole file (at most [`MAX_FILE_BYTES`]) on a blocking thread; `None` if missing.
async fn read_file(path: PathBuf, file: String) -> Result<Option<String>, ProviderError> {
    let task = tokio::task::spawn_blocking(move || read_file_blocking(&path, &file));
    task.await
        .map_err(|e| ProviderError::transient(format!("file: reader task failed: {e}")))?
}

fn read_file_blocking(path: &Path, file: &str) -> Result<Option<String>, ProviderError> {
    let unreadable =
        |e: std::io::Error| ProviderError::Invalid(format!("{file}: cannot read: {e}"));
    let handle = match std::fs::File::open(path) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let meta = handle.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(ProviderError::Invalid(format!(
            "{file}: not a regular file"
        )));
    }
    let too_large = || ProviderError::Invalid(format!("{file}: larger than 64 MiB"));
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| ProviderError::Invalid(format!("{file}: not UTF-8 text")))
}

/// The header: canonical column name → index. Unknown or repeated columns are invalid, and
/// every name in `required` must be there.
fn header_columns(
    file: &str,
    (header_line, header): (u64, &csv::StringRecord),
    known: &[&'static str],
    required: &[&'static str],
) -> Result<HashMap<&'static str, usize>, ProviderError> {
    let mut columns = HashMap::new();
    for (i, raw) in header.iter().enumerate() {
        let name = raw
            .trim()
            .trim_start_matches('\u{feff}')
            .trim()
            .to_ascii_lowercase();
        let cell = Cell {
            file,
            line: header_line,
            column: i,
            name: raw.trim(),
        };
        let Some(known) = known.iter().find(|k| **k == name) else {
            return Err(cell.invalid("unknown column"));
        };
        if columns.insert(*known, i).is_some() {
            return Err(cell.invalid("repeated column"));
        }
    }
    match required.iter().find(|r| !columns.contains_key(**r)) {
        Some(missing) => Err(line_error(
            file,
            header_line,
            format!("no {missing} column"),
        )),
        None => Ok(columns),
    }
}

/// A CSV's header and the records after it, each with its line number; blank lines are
/// skipped, and a record with another number of fields than the header is invalid.
struct Table {
    header_line: u64,
    header: csv::StringRecord,
    rows: Vec<(u64, csv::StringRecord)>,
}

fn records(file: &str, text: &str) -> Result<Table, ProviderError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut header = None;
    let mut rows = Vec::new();
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = lines.line_at(e.position().map_or(0, csv::Position::byte));
            line_error(file, line, "unreadable CSV")
        })?;
        let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
        if record.iter().all(str::is_empty) {
            continue;
        }
        match &header {
            None => header = Some((line, record)),
            Some((_, h)) if h.len() != record.len() => {
                let what = format!("{} fields, the header has {}", record.len(), h.len());
                return Err(line_error(file, line, what));
            }
            Some(_) => rows.push((line, record)),
        }
    }
    match header {
        Some((header_line, header)) => Ok(Table {
            header_line,
            header,
            rows,
        }),
        None => Err(line_error(file, 1, "no header")),
    }
}

/// Line numbers (1-based) of byte offsets met in increasing order. The csv crate's own line
/// numbers miss the blank lines it skips.
struct LineCounter<'a> {
    text: &'a [u8],
    byte: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    /// The line of the record starting at `byte` (the csv crate counts the blank lines it
    /// skipped before a record as part of it).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut byte = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte > self.byte {
            let newlines = self.text[self.byte..byte]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.byte = byte;
        }
        self.line
    }
}

/// A price file's bars, ascending by date.
fn parse_prices(file: &str, text: &str) -> Result<Vec<DailyBar>, ProviderError> {
    let table = records(file, text)?;
    let header = (table.header_line, &table.header);
    let columns = header_columns(file, header, &PRICE_COLUMNS, &["date", "close"])?;
    let rows = table.rows;
    let mut first_line: HashMap<NaiveDate, u64> = HashMap::new();
    let mut bars = Vec::with_capacity(rows.len());
    for (line, record) in &rows {
        let row = Row {
            file,
            line: *line,
            record,
            columns: &columns,
        };
        let bar = parse_bar(&row)?;
        if let Some(first) = first_line.insert(bar.date, *line) {
            let (c, _) = row.required("date")?;
            return Err(c.invalid(format!(
                "duplicate date {} (first on line {first})",
                bar.date
            )));
        }
        bars.push(bar);
    }
    bars.sort_by_key(|b| b.date);
    Ok(bars)
}

/// One record and where its columns are.
struct Row<'a> {
    file: &'a str,
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<&'static str, usize>,
}

impl<'a> Row<'a> {
    /// The cell of column `name`, when the file has that column.
    fn cell(&self, name: &'static str) -> Option<(Cell<'a>, &'a str)> {
        let column = *self.columns.get(name)?;
        let value = self.record.get(column)?;
        let cell = Cell {
            file: self.file,
            line: self.line,
            column,
            name,
        };
        Some((cell, value))
    }

    /// The cell of a column the header check made sure of.
    fn required(&self, name: &'static str) -> Result<(Cell<'a>, &'a str), ProviderError> {
        self.cell(name)
            .ok_or_else(|| line_error(self.file, self.line, format!("no {name}")))
    }

    /// The non-empty cell of column `name`, if any.
    fn filled(&self, name: &'static str) -> Option<(Cell<'a>, &'a str)> {
        self.cell(name).filter(|(_, v)| !v.is_empty())
    }
}

fn parse_bar(row: &Row<'_>) -> Result<DailyBar, ProviderError> {
    let (c, value) = row.required("date")?;
    let date = parse_date(value)
        .ok_or_else(|| c.invalid(format!("\"{}\" is not a date (YYYY-MM-DD)", shown(value))))?;
    let (c, value) = row.required("close")?;
    let close = parse_number(&c, value)?;
    if !(close.is_finite() && close > 0.0) {
        return Err(c.invalid(format!("\"{}\" is not a positive price", shown(value))));
    }
    for name in ["open", "high", "low"] {
        if let Some((c, value)) = row.filled(name) {
            let price = parse_number(&c, value)?;
            if !price.is_finite() || price < 0.0 {
                return Err(c.invalid(format!("\"{}\" is not a price", shown(value))));
            }
        }
    }
    let volume = match row.filled("volume") {
        Some((c, value)) => parse_volume(&c, value)?,
        None => 0,
    };
    Ok(DailyBar {
        date,
        close,
        volume,
    })
}

/// Exactly `YYYY-MM-DD`.
fn parse_date(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

fn parse_number(cell: &Cell<'_>, value: &str) -> Result<f64, ProviderError> {
    value
        .parse::<f64>()
        .map_err(|_| cell.invalid(format!("\"{}\" is not a number", shown(value))))
}

/// A whole non-negative number of shares (`1200` or `1200.0`).
fn parse_volume(cell: &Cell<'_>, value: &str) -> Result<i64, ProviderError> {
    let bad = || cell.invalid(format!("\"{}\" is not a volume", shown(value)));
    if let Ok(v) = value.parse::<i64>() {
        return if v >= 0 { Ok(v) } else { Err(bad()) };
    }
    match value.parse::<f64>() {
        // Bounded well inside i64, so the cast is exact.
        Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.0e18 => Ok(v as i64),
        _ => Err(bad()),
    }
}

/// The profile of `symbol` (matched ignoring case) in `profiles.csv`, if listed.
fn find_profile(text: &str, symbol: &str) -> Result<Option<CompanyProfile>, ProviderError> {
    let file = PROFILES_FILE;
    let table = records(file, text)?;
    let header = (table.header_line, &table.header);
    let columns = header_columns(file, header, &PROFILE_COLUMNS, &["symbol", "name"])?;
    let rows = table.rows;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut found = None;
    for (line, record) in &rows {
        let row = Row {
            file,
            line: *line,
            record,
            columns: &columns,
        };
        let profile = parse_profile(&row)?;
        let key = profile.symbol.to_ascii_uppercase();
        if let Some(first) = seen.insert(key, *line) {
            let (c, _) = row.required("symbol")?;
            return Err(c.invalid(format!("duplicate symbol (first on line {first})")));
        }
        if profile.symbol.eq_ignore_ascii_case(symbol.trim()) {
            found = Some(profile);
        }
    }
    Ok(found)
}

fn parse_profile(row: &Row<'_>) -> Result<CompanyProfile, ProviderError> {
    let text = |name| row.filled(name).map(|(_, v)| v);
    let (c, symbol) = row.required("symbol")?;
    if symbol.is_empty() {
        return Err(c.invalid("empty symbol"));
    }
    let number = |name| -> Result<Option<f64>, ProviderError> {
        match row.filled(name) {
            None => Ok(None),
            Some((c, v)) => match parse_number(&c, v)? {
                n if n.is_finite() => Ok(Some(n)),
                _ => Err(c.invalid(format!("\"{}\" is not a finite number", shown(v)))),
            },
        }
    };
    let is_etf = match row.cell("is_etf") {
        None => false,
        Some((c, v)) => parse_flag(v)
            .ok_or_else(|| c.invalid(format!("\"{}\" is not true/false/1/0/yes/no", shown(v))))?,
    };
    Ok(CompanyProfile {
        symbol: symbol.to_owned(),
        name: text("name").unwrap_or(symbol).to_owned(),
        sector: text("sector").map(str::to_owned),
        industry: text("industry").map(str::to_owned),
        exchange: None,
        country: None,
        market_cap: number("market_cap")?.filter(|m| *m > 0.0),
        beta: number("beta")?.filter(|b| *b != 0.0),
        trailing_pe: None,
        forward_pe: None,
        dividend_yield: None,
        week_52_high: None,
        week_52_low: None,
        is_etf,
        is_fund: false,
    })
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

#[async_trait::async_trait]
impl MarketDataProvider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn serves(&self, kind: DataKind) -> bool {
        match kind {
            DataKind::Prices => true,
            DataKind::Profiles => self.has_profiles,
            // Each file is read once a night per symbol already: nothing to save.
            DataKind::Fundamentals | DataKind::DailyBulk => false,
        }
    }

    async fn daily_history(
        &self,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<DailyBar>, ProviderError> {
        if !plain_name(symbol) {
            return Err(not_found(symbol, "file: not a plain file name"));
        }
        let file = format!("{symbol}.csv");
        let Some(text) = read_file(self.dir.join(&file), file.clone()).await? else {
            return Err(not_found(symbol, format!("file: no {file}")));
        };
        let mut bars = parse_prices(&file, &text)?;
        bars.retain(|b| (start..=end).contains(&b.date));
        if bars.is_empty() && start <= end {
            return Err(not_found(
                symbol,
                format!("file: no bars between {start} and {end}"),
            ));
        }
        Ok(bars)
    }

    async fn company_profile(
        &self,
        symbol: &str,
        _as_of: NaiveDate,
    ) -> Result<CompanyProfile, ProviderError> {
        let path = self.dir.join(PROFILES_FILE);
        let Some(text) = read_file(path, PROFILES_FILE.to_owned()).await? else {
            return Err(not_found(symbol, format!("file: no {PROFILES_FILE}")));
        };
        find_profile(&text, symbol)?
            .ok_or_else(|| not_found(symbol, format!("file: not in {PROFILES_FILE}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for good in ["AAPL", "BRK.B", "BRK-B", "a_b", "X"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in [
            "", ".", "..", "../x", ".hidden", "a/b", "a\\b", "A B", "-", "_.", "é",
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn dates_must_be_exactly_iso() {
        assert!(parse_date("2024-01-05").is_some());
        for bad in [
            "2024-1-5",
            "2024/01/05",
            "2024-02-30",
            "20240105",
            " 2024-01-05",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
