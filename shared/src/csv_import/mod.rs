//! CSV import of portfolio positions.
//!
//! [`parse_positions_with`] turns an uploaded CSV file into validated
//! [`ParsedPosition`]s, or fails with a [`CsvError`]; [`parse_positions`] does the same under
//! the default [`Limits`]. It is all or nothing: file-level problems stop at the first one
//! found (codes `ERR_CSV_001` to `ERR_CSV_009`), while row-level problems are collected, row
//! after row, and returned together as [`CsvError::Validation`] (codes `ERR_POS_001` to
//! `ERR_POS_026`): the first [`Limits::max_errors`] of them, with the count of all.
//!
//! The file is UTF-8 (an optional BOM is dropped), with LF or CRLF line endings. Lines
//! whose trimmed text starts with `#` and blank lines are ignored. The first remaining
//! record is the header: column names are matched exactly (case-sensitive), in any order;
//! the first four [`COLUMNS`] are required, the other eight may be left out. A row's
//! number is the line an editor shows it on (comment and blank lines count; a record whose
//! quoted field spans lines has the number of its first line). A record whose values are
//! all empty is skipped. Values are trimmed; a cell holding a control character (NUL, tab,
//! a line break inside quotes …) is refused.
//!
//! A hostile file costs little: the file is read record by record, parsing stops at the
//! first row past [`Limits::max_positions`], at most [`Limits::max_errors`] errors are kept,
//! and every value echoed back in an error is cut by [`shown`].
//!
//! [`template_csv`] returns a ready-to-fill example file.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use clap::Args;
use csv::{ReaderBuilder, StringRecord, Trim};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{InvestmentClass, OptionType, PositionType};

/// The largest accepted file, in bytes (10 MiB).
pub const MAX_CSV_BYTES: usize = 10 * 1024 * 1024;
/// Default of [`Limits::max_positions`].
pub const MAX_POSITIONS_DEFAULT: usize = 5_000;
/// Default of [`Limits::max_errors`].
pub const MAX_ERRORS_DEFAULT: usize = 100;
/// Default of [`Limits::max_echo_chars`].
pub const MAX_ECHO_CHARS_DEFAULT: usize = 100;
/// Default of [`Limits::max_quantity`].
pub const MAX_QUANTITY_DEFAULT: i64 = 1_000_000_000_000;
/// Default of [`Limits::max_price`].
pub const MAX_PRICE_DEFAULT: i64 = 1_000_000_000;
/// Default of [`Limits::max_notional`].
pub const MAX_NOTIONAL_DEFAULT: i64 = 1_000_000_000_000;

// The largest values the settings take, so that nothing accepted can overflow a column:
// positions.quantity numeric(28, 6) (< 1e22), entry_price numeric(20, 2) (< 1e18),
// strike_price and exit_price numeric(20, 4) (< 1e16), and the worker's market values and
// snapshot sums numeric(24, 2) (< 1e22), which a notional of 1e15 reaches only if prices
// rise ten-million-fold.
const QUANTITY_CEILING: i64 = 1_000_000_000_000_000;
const PRICE_CEILING: i64 = 1_000_000_000_000;
const NOTIONAL_CEILING: i64 = 1_000_000_000_000_000;

/// Every column a file may have, in template order; the first four are required.
pub const COLUMNS: [&str; 12] = [
    "Symbol",
    "Quantity",
    "Entry Price Per Share",
    "Entry Date",
    "Investment Class",
    "Investment Subtype",
    "Underlying Symbol",
    "Strike Price",
    "Expiration Date",
    "Option Type",
    "Exit Date",
    "Exit Price Per Share",
];

const REQUIRED_COLUMNS: usize = 4;

// Indexes into `COLUMNS`.
const SYMBOL: usize = 0;
const QUANTITY: usize = 1;
const ENTRY_PRICE: usize = 2;
const ENTRY_DATE: usize = 3;
const CLASS: usize = 4;
const SUBTYPE: usize = 5;
const UNDERLYING: usize = 6;
const STRIKE: usize = 7;
const EXPIRATION: usize = 8;
const OPTION_TYPE: usize = 9;
const EXIT_DATE: usize = 10;
const EXIT_PRICE: usize = 11;

/// The option columns: they make a row with a blank class an options row, and are refused
/// on a row of another class.
const OPTION_COLUMNS: [usize; 4] = [UNDERLYING, STRIKE, EXPIRATION, OPTION_TYPE];

const MAX_SYMBOL_CHARS: usize = 100;
const MAX_QUANTITY_DECIMALS: usize = 6;
const MAX_PRICE_DECIMALS: usize = 2;
/// Strike and exit prices: the scale of their `numeric(20, 4)` columns.
const MAX_OPTION_PRICE_DECIMALS: usize = 4;
const MAX_AGE_DAYS: u64 = 36_500;

const PUBLIC_SUBTYPES: &[&str] = &["STOCK", "ETF", "MUTUAL_FUND", "BOND", "CASH"];
const OPTIONS_SUBTYPES: &[&str] = &["CALL", "PUT"];
const PRIVATE_SUBTYPES: &[&str] = &[
    "PRIVATE_EQUITY",
    "VENTURE_CAPITAL",
    "HEDGE_FUND",
    "PRIVATE_REIT",
    "REAL_ESTATE",
    "CRYPTOCURRENCY",
    "CRYPTO",
    "ART",
    "MONEY_MARKET",
    "TREASURY_BILLS",
    "CASH",
    "COMMODITY",
    "OTHER",
];

/// The limits of one upload's CSV, from the environment (the api flattens them into its
/// config). [`Limits::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Limits {
    /// Position rows a file may hold; a file with more is refused (ERR_CSV_008) at the
    /// first row past the limit.
    #[arg(
        long = "max-positions",
        env = "SIGMASIGHT_MAX_POSITIONS",
        default_value_t = MAX_POSITIONS_DEFAULT,
        value_parser = parse_count
    )]
    pub max_positions: usize,
    /// Row errors reported (the first ones by row); `details.total_errors` counts them all.
    #[arg(
        long = "max-csv-errors",
        env = "SIGMASIGHT_MAX_CSV_ERRORS",
        default_value_t = MAX_ERRORS_DEFAULT,
        value_parser = parse_count
    )]
    pub max_errors: usize,
    /// Characters of a value echoed back in an error; a longer value is cut, ending in "…".
    #[arg(
        long = "max-echo-chars",
        env = "SIGMASIGHT_MAX_ECHO_CHARS",
        default_value_t = MAX_ECHO_CHARS_DEFAULT,
        value_parser = parse_count
    )]
    pub max_echo_chars: usize,
    /// Largest |Quantity| (at most 1e15).
    #[arg(
        long = "max-quantity",
        env = "SIGMASIGHT_MAX_QUANTITY",
        default_value_t = Decimal::from(MAX_QUANTITY_DEFAULT),
        value_parser = parse_quantity_limit
    )]
    pub max_quantity: Decimal,
    /// Largest entry price, exit price and strike (at most 1e12).
    #[arg(
        long = "max-price",
        env = "SIGMASIGHT_MAX_PRICE",
        default_value_t = Decimal::from(MAX_PRICE_DEFAULT),
        value_parser = parse_price_limit
    )]
    pub max_price: Decimal,
    /// Largest total notional of a file, Σ |quantity| × multiplier × the largest of its
    /// entry price, exit price and strike (at most 1e15).
    #[arg(
        long = "max-notional",
        env = "SIGMASIGHT_MAX_NOTIONAL",
        default_value_t = Decimal::from(MAX_NOTIONAL_DEFAULT),
        value_parser = parse_notional_limit
    )]
    pub max_notional: Decimal,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_positions: MAX_POSITIONS_DEFAULT,
            max_errors: MAX_ERRORS_DEFAULT,
            max_echo_chars: MAX_ECHO_CHARS_DEFAULT,
            max_quantity: Decimal::from(MAX_QUANTITY_DEFAULT),
            max_price: Decimal::from(MAX_PRICE_DEFAULT),
            max_notional: Decimal::from(MAX_NOTIONAL_DEFAULT),
        }
    }
}

fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{raw:?} is not a whole number greater than 0")),
    }
}

/// A positive decimal limit no larger than `ceiling` (a column's safe maximum).
pub fn parse_limit(raw: &str, ceiling: i64) -> Result<Decimal, String> {
    match parse_decimal(raw.trim()) {
        Some(v) if v > Decimal::ZERO && v <= Decimal::from(ceiling) => Ok(v),
        _ => Err(format!(
            "{raw:?} is not a plain number greater than 0 and at most {ceiling}"
        )),
    }
}

fn parse_quantity_limit(raw: &str) -> Result<Decimal, String> {
    parse_limit(raw, QUANTITY_CEILING)
}

fn parse_price_limit(raw: &str) -> Result<Decimal, String> {
    parse_limit(raw, PRICE_CEILING)
}

fn parse_notional_limit(raw: &str) -> Result<Decimal, String> {
    parse_limit(raw, NOTIONAL_CEILING)
}

/// A value as it may be echoed back in an error: control characters replaced by U+FFFD,
/// and at most `max_chars` characters, a longer value cut on a character boundary and
/// ending in "…".
pub fn shown(value: &str, max_chars: usize) -> String {
    let clean = |c: char| if c.is_control() { '\u{fffd}' } else { c };
    if value.chars().nth(max_chars).is_none() {
        return value.chars().map(clean).collect();
    }
    let mut cut: String = value
        .chars()
        .take(max_chars.saturating_sub(1))
        .map(clean)
        .collect();
    cut.push('…');
    cut
}

/// True for a character no text field or cell may hold: a control character (NUL, escape,
/// line breaks …), a bidirectional embedding, override or isolate (U+202A–U+202E,
/// U+2066–U+2069: they make text display in another order than it is stored, the "Trojan
/// Source" spoof), a zero-width space or a byte-order mark inside text (a name made only of
/// those looks empty).
pub fn is_refused_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first refused character ([`is_refused_char`]) of a value and its 1-based position in
/// characters.
pub fn first_control_char(value: &str) -> Option<(usize, char)> {
    value
        .chars()
        .enumerate()
        .find(|(_, c)| is_refused_char(*c))
        .map(|(i, c)| (i + 1, c))
}

/// One validated position read from a CSV row.
///
/// Option fields (`underlying_symbol`, `strike_price`, `expiration_date`,
/// `option_type`) are set for OPTIONS rows only (other rows may not fill them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedPosition {
    /// Line of the row in the file (the header's line is usually 1).
    pub row: usize,
    /// Symbol, upper case (an OPTIONS row's blank symbol becomes its underlying).
    pub symbol: String,
    /// Signed quantity; never zero, at most 6 decimal places, |q| ≤ the limit.
    pub quantity: Decimal,
    /// Entry price per share; positive, at most 2 decimal places, ≤ the limit.
    pub entry_price: Decimal,
    /// Entry date, never in the future nor more than 36500 days old.
    pub entry_date: NaiveDate,
    /// Investment class (a blank class is OPTIONS or PUBLIC).
    pub investment_class: InvestmentClass,
    /// Investment subtype, upper case, defaulted when blank.
    pub investment_subtype: String,
    /// LONG/SHORT, or LC/LP/SC/SP for options.
    pub position_type: PositionType,
    /// Underlying symbol of an option, upper case.
    pub underlying_symbol: Option<String>,
    /// Strike price of an option; positive, at most 4 decimal places, ≤ the limit.
    pub strike_price: Option<Decimal>,
    /// Expiration date of an option.
    pub expiration_date: Option<NaiveDate>,
    /// Call or put.
    pub option_type: Option<OptionType>,
    /// Exit date of a closed position.
    pub exit_date: Option<NaiveDate>,
    /// Exit price per share of a closed position (only with an exit date).
    pub exit_price: Option<Decimal>,
}

/// One problem found in one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// Line of the row in the file.
    pub row: usize,
    /// Name of the column at fault, as in [`COLUMNS`].
    pub column: Option<String>,
    /// The row's symbol as written (through [`shown`]), if it has one.
    pub symbol: Option<String>,
    /// Error code, `ERR_POS_001` to `ERR_POS_026`.
    pub code: &'static str,
    /// What is wrong, for a person; values in it are cut by [`shown`].
    pub message: String,
}

/// Why a file was rejected. Values it carries are already cut by [`shown`].
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// `ERR_CSV_001`: the file is larger than [`MAX_CSV_BYTES`].
    #[error("the file is {size} bytes; the limit is {MAX_CSV_BYTES} bytes (10 MiB)")]
    TooLarge {
        /// Size of the file in bytes.
        size: usize,
    },
    /// `ERR_CSV_002`: the file name does not end in `.csv`.
    #[error("the file name \"{name}\" does not end in .csv")]
    BadFileName {
        /// The file name given.
        name: String,
    },
    /// `ERR_CSV_003`: no bytes, or only blank and comment lines.
    #[error("the file is empty")]
    Empty,
    /// `ERR_CSV_005`: the first row names none of the known columns.
    #[error("the file has no header row; its first row must name the columns, starting with Symbol,Quantity,Entry Price Per Share,Entry Date")]
    NoHeader,
    /// `ERR_CSV_006`: not UTF-8, or not readable as CSV.
    #[error("the file is not valid CSV: {message}")]
    Malformed {
        /// What could not be read.
        message: String,
    },
    /// `ERR_CSV_004`: a required column is missing from the header.
    #[error("the required column \"{column}\" is missing")]
    MissingColumn {
        /// The missing column.
        column: String,
        /// Line of the header.
        row: usize,
    },
    /// `ERR_CSV_007`: the header names a column that is not in [`COLUMNS`].
    #[error("unknown column \"{column}\"; the allowed columns are: {}", COLUMNS.join(", "))]
    UnknownColumn {
        /// The unknown name, as written.
        column: String,
    },
    /// `ERR_CSV_007`: the header names a column twice.
    #[error("the column \"{column}\" appears more than once")]
    RepeatedColumn {
        /// The repeated column.
        column: String,
    },
    /// `ERR_CSV_003`: a header but no data rows.
    #[error("the file has a header but no data rows")]
    NoDataRows,
    /// `ERR_CSV_008`: more position rows than [`Limits::max_positions`]; reading stopped at
    /// the first one past it.
    #[error("the file has more than {max} positions (row {row} is the first past the limit)")]
    TooManyPositions {
        /// The limit.
        max: usize,
        /// Line of the first row past the limit.
        row: usize,
    },
    /// `ERR_CSV_009`: the positions' total notional is above [`Limits::max_notional`].
    #[error("the positions' total notional (Σ |quantity| × multiplier × the largest of entry price, exit price and strike) is more than {max}")]
    NotionalTooLarge {
        /// The limit.
        max: Decimal,
    },
    /// `ERR_CSV_VALIDATION`: one or more rows are invalid: the first problems, in row
    /// order, and how many there are in all.
    #[error("{total} problem(s) found in the file's rows")]
    Validation {
        /// The first [`Limits::max_errors`] problems.
        errors: Vec<RowError>,
        /// Every problem found, counted.
        total: usize,
    },
}

impl CsvError {
    /// The error code: `ERR_CSV_001` to `ERR_CSV_009`, or `ERR_CSV_VALIDATION`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "ERR_CSV_001",
            Self::BadFileName { .. } => "ERR_CSV_002",
            Self::Empty | Self::NoDataRows => "ERR_CSV_003",
            Self::MissingColumn { .. } => "ERR_CSV_004",
            Self::NoHeader => "ERR_CSV_005",
            Self::Malformed { .. } => "ERR_CSV_006",
            Self::UnknownColumn { .. } | Self::RepeatedColumn { .. } => "ERR_CSV_007",
            Self::TooManyPositions { .. } => "ERR_CSV_008",
            Self::NotionalTooLarge { .. } => "ERR_CSV_009",
            Self::Validation { .. } => "ERR_CSV_VALIDATION",
        }
    }
}

/// [`parse_positions_with`] under the default [`Limits`].
pub fn parse_positions(
    file_name: &str,
    bytes: &[u8],
    today: NaiveDate,
) -> Result<Vec<ParsedPosition>, CsvError> {
    parse_positions_with(file_name, bytes, today, &Limits::default())
}

/// Parses and validates a whole CSV file of positions.
///
/// `today` bounds the entry dates (see [`today_in_new_york`]). Returns every
/// position, in row order, or an error; nothing partial is ever returned.
pub fn parse_positions_with(
    file_name: &str,
    bytes: &[u8],
    today: NaiveDate,
    limits: &Limits,
) -> Result<Vec<ParsedPosition>, CsvError> {
    check_file(file_name, bytes, limits)?;
    let text = blank_comments(decode(bytes)?)?;
    let mut records = Records::new(&text);
    let mut header = StringRecord::new();
    let header_line = records.next(&mut header)?.ok_or(CsvError::Empty)?;
    let columns = ColumnMap::from_header(&header, header_line, limits)?;
    let positions = validate_rows(&columns, &mut records, today, limits)?;
    check_notional(&positions, limits)?;
    Ok(positions)
}

/// Today's date in New York, the market's time zone (the business clock: see
/// [`crate::clock`]).
pub fn today_in_new_york() -> NaiveDate {
    crate::clock::today_ny()
}

/// An example file that imports as it is, with `#` lines explaining the columns.
pub fn template_csv() -> &'static str {
    TEMPLATE
}

const TEMPLATE: &str = "\
# SigmaSight portfolio import template. Lines starting with # are ignored.
# Required columns: Symbol, Quantity, Entry Price Per Share, Entry Date (YYYY-MM-DD).
# Quantity: negative for a short position; at most 6 decimal places. Entry price: positive, at most 2 decimal places.
# Investment Class: PUBLIC, OPTIONS or PRIVATE (blank: OPTIONS if an option column is filled, else PUBLIC).
# Investment Subtype: PUBLIC: STOCK, ETF, MUTUAL_FUND, BOND, CASH (blank: STOCK); OPTIONS: CALL or PUT (blank: the option type);
#   PRIVATE: PRIVATE_EQUITY, VENTURE_CAPITAL, HEDGE_FUND, PRIVATE_REIT, REAL_ESTATE, CRYPTOCURRENCY, CRYPTO, ART,
#   MONEY_MARKET, TREASURY_BILLS, CASH, COMMODITY, OTHER (blank: OTHER).
# Options need Underlying Symbol, Strike Price, Expiration Date (YYYY-MM-DD) and Option Type (CALL or PUT).
# A closed position has Exit Date (not before Entry Date) and Exit Price Per Share (positive).
# Replace the example rows below with your own positions.
Symbol,Quantity,Entry Price Per Share,Entry Date,Investment Class,Investment Subtype,Underlying Symbol,Strike Price,Expiration Date,Option Type,Exit Date,Exit Price Per Share
AAPL,100,185.50,2024-01-15,PUBLIC,STOCK,,,,,,
SPY_C450_20240315,10,5.50,2024-02-01,OPTIONS,CALL,SPY,450.00,2024-03-15,CALL,,
QQQ_P380_20240621,5,7.25,2024-03-01,OPTIONS,PUT,QQQ,380.00,2024-06-21,PUT,,
VTI,50,235.10,2024-01-10,PUBLIC,ETF,,,,,,
TSLA,-20,210.00,2024-02-15,PUBLIC,STOCK,,,,,,
MSFT,25,380.00,2024-01-05,PUBLIC,STOCK,,,,,2024-04-01,420.00
ACME_FUND_I,1,250000.00,2024-01-02,PRIVATE,PRIVATE_EQUITY,,,,,,
";

// ---------------------------------------------------------------------------
// File level
// ---------------------------------------------------------------------------

fn check_file(file_name: &str, bytes: &[u8], limits: &Limits) -> Result<(), CsvError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(CsvError::TooLarge { size: bytes.len() });
    }
    if !file_name.to_ascii_lowercase().ends_with(".csv") {
        return Err(CsvError::BadFileName {
            name: shown(file_name, limits.max_echo_chars),
        });
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<&str, CsvError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CsvError::Malformed {
        message: format!("the file is not UTF-8 text ({e})"),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Empties comment and blank lines (outside quoted fields), keeping every line break so
/// that line numbers stay those of the file; fails on an unterminated quote.
///
/// Line breaks come out as `\n` whatever the file used (`\r\n`, `\n`, or a lone `\r` as
/// old Mac files and some editors write), so that every record starts on a line of its own
/// and the line numbers counted later are the ones an editor shows.
fn blank_comments(text: &str) -> Result<String, CsvError> {
    let mut kept = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut any = false;
    for (line, broken) in lines(text) {
        let trimmed = line.trim();
        if !in_quotes && (trimmed.is_empty() || trimmed.starts_with('#')) {
            if broken {
                kept.push('\n');
            }
            continue;
        }
        if line.matches('"').count() % 2 == 1 {
            in_quotes = !in_quotes;
        }
        kept.push_str(line);
        if broken {
            kept.push('\n');
        }
        any = true;
    }
    if in_quotes {
        return Err(CsvError::Malformed {
            message: "a quoted field is never closed".to_string(),
        });
    }
    if !any {
        return Err(CsvError::Empty);
    }
    Ok(kept)
}

/// The lines of `text` without their breaks (`\r\n`, `\n` or a lone `\r`), each with
/// whether a break ended it (the last line may have none).
fn lines(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            None => Some((std::mem::take(&mut rest), false)),
            Some(at) => {
                let line = &rest[..at];
                let width = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + width..];
                Some((line, true))
            }
        }
    })
}

/// The file's records one at a time, each with the line it starts on.
struct Records<'a> {
    text: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    /// Line number of byte `counted_to`.
    line: usize,
    counted_to: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Self {
        let reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(Trim::None)
            .from_reader(text.as_bytes());
        Self {
            text: text.as_bytes(),
            reader,
            line: 1,
            counted_to: 0,
        }
    }

    /// Reads the next record into `record`; returns its line, or `None` at the end.
    fn next(&mut self, record: &mut StringRecord) -> Result<Option<usize>, CsvError> {
        let more = self
            .reader
            .read_record(record)
            .map_err(|e| CsvError::Malformed {
                message: e.to_string(),
            })?;
        if !more {
            return Ok(None);
        }
        // The reader's position is where it started reading, which may be line breaks
        // (blanked lines) before the record: its first line is after them.
        let start = record.position().map_or(0, |p| p.byte());
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let first = self.text[start.min(self.text.len())..]
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(self.text.len(), |skip| start + skip);
        if first > self.counted_to {
            let breaks = self.text[self.counted_to..first]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += breaks;
            self.counted_to = first;
        }
        Ok(Some(self.line))
    }
}

fn check_width(row: usize, record: &StringRecord, width: usize) -> Result<(), CsvError> {
    if record.len() == width {
        return Ok(());
    }
    Err(CsvError::Malformed {
        message: format!(
            "row {row} has {} fields but the header has {width}",
            record.len()
        ),
    })
}

/// Where each known column sits in the file, if it is there.
struct ColumnMap {
    positions: [Option<usize>; COLUMNS.len()],
    width: usize,
}

impl ColumnMap {
    fn from_header(header: &StringRecord, line: usize, limits: &Limits) -> Result<Self, CsvError> {
        let looks_like_header = header
            .iter()
            .any(|name| COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(name.trim())));
        if !looks_like_header {
            return Err(CsvError::NoHeader);
        }
        let mut positions = [None; COLUMNS.len()];
        for (position, raw) in header.iter().enumerate() {
            let name = raw.trim();
            let column = COLUMNS
                .iter()
                .position(|c| *c == name)
                .filter(|_| first_control_char(raw).is_none())
                .ok_or_else(|| CsvError::UnknownColumn {
                    column: shown(raw, limits.max_echo_chars),
                })?;
            if positions[column].replace(position).is_some() {
                return Err(CsvError::RepeatedColumn {
                    column: name.to_string(),
                });
            }
        }
        let missing = (0..REQUIRED_COLUMNS).find(|&c| positions[c].is_none());
        match missing {
            Some(c) => Err(CsvError::MissingColumn {
                column: COLUMNS[c].to_string(),
                row: line,
            }),
            None => Ok(Self {
                positions,
                width: header.len(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One data record seen through the column map; absent columns read as "".
struct Row<'a> {
    columns: &'a ColumnMap,
    record: &'a StringRecord,
}

impl Row<'_> {
    /// The cell as written (untrimmed).
    fn raw(&self, column: usize) -> &str {
        self.columns.positions[column]
            .and_then(|p| self.record.get(p))
            .unwrap_or("")
    }

    /// The cell, trimmed.
    fn get(&self, column: usize) -> &str {
        self.raw(column).trim()
    }

    fn has(&self, column: usize) -> bool {
        !self.get(column).is_empty()
    }
}

/// Collects the problems of one row.
struct RowCheck<'a> {
    row: usize,
    symbol: Option<String>,
    errors: Vec<RowError>,
    limits: &'a Limits,
}

impl RowCheck<'_> {
    fn fail(&mut self, column: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(RowError {
            row: self.row,
            column: Some(COLUMNS[column].to_string()),
            symbol: self.symbol.clone(),
            code,
            message: message.into(),
        });
    }

    /// A value for a message: quoted, and cut by [`shown`].
    fn quoted(&self, raw: &str) -> String {
        format!("\"{}\"", shown(raw, self.limits.max_echo_chars))
    }
}

/// The first row errors of a file, and how many there are in all.
struct Collected {
    kept: Vec<RowError>,
    total: usize,
    max: usize,
}

impl Collected {
    fn add(&mut self, errors: Vec<RowError>) {
        self.total += errors.len();
        let room = self.max.saturating_sub(self.kept.len());
        self.kept.extend(errors.into_iter().take(room));
    }
}

fn validate_rows(
    columns: &ColumnMap,
    records: &mut Records,
    today: NaiveDate,
    limits: &Limits,
) -> Result<Vec<ParsedPosition>, CsvError> {
    let mut positions = Vec::new();
    let mut errors = Collected {
        kept: Vec::new(),
        total: 0,
        max: limits.max_errors,
    };
    let mut first_seen: HashMap<(String, NaiveDate), usize> = HashMap::new();
    let mut rows = 0;
    let mut record = StringRecord::new();
    while let Some(line) = records.next(&mut record)? {
        check_width(line, &record, columns.width)?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        rows += 1;
        if rows > limits.max_positions {
            return Err(CsvError::TooManyPositions {
                max: limits.max_positions,
                row: line,
            });
        }
        let row = Row {
            columns,
            record: &record,
        };
        let mut check = RowCheck {
            row: line,
            symbol: None,
            errors: Vec::new(),
            limits,
        };
        let position = validate_row(&row, today, &mut check, &mut first_seen);
        errors.add(check.errors);
        positions.extend(position);
    }
    if rows == 0 {
        return Err(CsvError::NoDataRows);
    }
    if errors.total > 0 {
        return Err(CsvError::Validation {
            errors: errors.kept,
            total: errors.total,
        });
    }
    Ok(positions)
}

/// One position's notional: |quantity| × multiplier × the largest of its entry price,
/// exit price and strike; `None` if it does not fit a decimal.
pub fn notional(position: &ParsedPosition) -> Option<Decimal> {
    let price = [
        Some(position.entry_price),
        position.exit_price,
        position.strike_price,
    ]
    .into_iter()
    .flatten()
    .max()?;
    let multiplier = Decimal::from(position.position_type.contract_multiplier());
    position
        .quantity
        .abs()
        .checked_mul(price)?
        .checked_mul(multiplier)
}

/// The total notional stays within [`Limits::max_notional`], so that no value the worker
/// derives from the positions can overflow its columns.
fn check_notional(positions: &[ParsedPosition], limits: &Limits) -> Result<(), CsvError> {
    let total = positions
        .iter()
        .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(notional(p)?));
    match total {
        Some(total) if total <= limits.max_notional => Ok(()),
        _ => Err(CsvError::NotionalTooLarge {
            max: limits.max_notional,
        }),
    }
}

/// The fields of an options row; each is `None` when missing or invalid.
#[derive(Default)]
struct OptionFields {
    underlying: Option<String>,
    strike: Option<Decimal>,
    expiration: Option<NaiveDate>,
    option_type: Option<OptionType>,
}

fn validate_row(
    row: &Row,
    today: NaiveDate,
    check: &mut RowCheck,
    first_seen: &mut HashMap<(String, NaiveDate), usize>,
) -> Option<ParsedPosition> {
    let class = classify(row);
    let symbol_text = effective_symbol(row, class);
    check.symbol =
        (!symbol_text.is_empty()).then(|| shown(symbol_text, check.limits.max_echo_chars));
    if !check_control_chars(row, check) {
        return None;
    }

    let symbol = check_symbol(symbol_text, check);
    let quantity = check_quantity(row.get(QUANTITY), check);
    let entry_price = check_entry_price(row.get(ENTRY_PRICE), check);
    let entry_date = check_entry_date(row.get(ENTRY_DATE), today, check);
    let options = match class {
        Some(InvestmentClass::Options) => check_options(row, entry_date, check),
        Some(other) => {
            check_no_option_columns(row, other, check);
            OptionFields::default()
        }
        None => {
            let message = format!(
                "Investment Class {} is not one of PUBLIC, OPTIONS, PRIVATE",
                check.quoted(row.get(CLASS))
            );
            check.fail(CLASS, "ERR_POS_016", message);
            OptionFields::default()
        }
    };
    let subtype = class.and_then(|c| check_subtype(row.get(SUBTYPE), c, &options, check));
    let exit_date = check_exit_date(row.get(EXIT_DATE), entry_date, check);
    let exit_price = check_exit_price(row.get(EXIT_PRICE), row.has(EXIT_DATE), check);
    check.errors.sort_by_key(column_rank);
    check_duplicate(symbol.as_deref(), entry_date, check, first_seen);

    let (Some(symbol), Some(quantity), Some(entry_price), Some(entry_date)) =
        (symbol, quantity, entry_price, entry_date)
    else {
        return None;
    };
    let (Some(investment_class), Some(investment_subtype)) = (class, subtype) else {
        return None;
    };
    if !check.errors.is_empty() {
        return None;
    }
    Some(ParsedPosition {
        row: check.row,
        symbol,
        quantity,
        entry_price,
        entry_date,
        investment_class,
        investment_subtype,
        position_type: PositionType::from_parts(options.option_type, quantity > Decimal::ZERO),
        underlying_symbol: options.underlying,
        strike_price: options.strike,
        expiration_date: options.expiration,
        option_type: options.option_type,
        exit_date,
        exit_price,
    })
}

/// `ERR_POS_025` for every cell holding a control character; `true` when there is none.
/// Such a row gets no other check: its cells mean nothing reliable.
fn check_control_chars(row: &Row, check: &mut RowCheck) -> bool {
    for (column, name) in COLUMNS.iter().enumerate() {
        if let Some((at, c)) = first_control_char(row.raw(column)) {
            let message = format!(
                "{name} contains the control character U+{:04X} (character {at}); only printable text is allowed",
                c as u32
            );
            check.fail(column, "ERR_POS_025", message);
        }
    }
    check.errors.is_empty()
}

fn column_rank(error: &RowError) -> usize {
    error
        .column
        .as_deref()
        .and_then(|name| COLUMNS.iter().position(|c| *c == name))
        .unwrap_or(COLUMNS.len())
}

/// The row's class; a blank class is OPTIONS when an option column is filled.
/// `None` for an unknown class name.
fn classify(row: &Row) -> Option<InvestmentClass> {
    let raw = row.get(CLASS);
    if !raw.is_empty() {
        return InvestmentClass::parse(raw);
    }
    if OPTION_COLUMNS.iter().any(|&c| row.has(c)) {
        Some(InvestmentClass::Options)
    } else {
        Some(InvestmentClass::Public)
    }
}

/// The symbol as written, or for an options row with a blank symbol, its underlying.
fn effective_symbol<'a>(row: &'a Row, class: Option<InvestmentClass>) -> &'a str {
    let symbol = row.get(SYMBOL);
    if symbol.is_empty() && class == Some(InvestmentClass::Options) {
        return row.get(UNDERLYING);
    }
    symbol
}

// ---------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------

fn check_symbol(raw: &str, check: &mut RowCheck) -> Option<String> {
    if raw.is_empty() {
        check.fail(SYMBOL, "ERR_POS_001", "Symbol is required");
        return None;
    }
    check_symbol_text(SYMBOL, raw, check)
}

/// The symbol rules, for `Symbol` and `Underlying Symbol` alike: at most
/// [`MAX_SYMBOL_CHARS`] characters of `[A-Za-z0-9._-]`, at least one a letter or digit. A
/// symbol reaches a provider's URL only after it passed them.
fn check_symbol_text(column: usize, raw: &str, check: &mut RowCheck) -> Option<String> {
    let name = COLUMNS[column];
    let mut valid = true;
    let length = raw.chars().count();
    if length > MAX_SYMBOL_CHARS {
        let message =
            format!("{name} is {length} characters long; the limit is {MAX_SYMBOL_CHARS}");
        check.fail(column, "ERR_POS_002", message);
        valid = false;
    }
    if !is_symbol_text(raw) {
        let message = format!(
            "{name} {} may only contain letters, digits, '.', '_' and '-', and needs a letter or digit",
            check.quoted(raw)
        );
        check.fail(column, "ERR_POS_003", message);
        valid = false;
    }
    valid.then(|| raw.to_ascii_uppercase())
}

fn is_symbol_text(raw: &str) -> bool {
    raw.chars().any(|c| c.is_ascii_alphanumeric())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `ERR_POS_024` when a number is beyond its limit (or beyond any decimal).
fn too_large(column: usize, raw: &str, limit: Decimal, check: &mut RowCheck) {
    let message = format!(
        "{} {} is beyond the limit of {limit}",
        COLUMNS[column],
        check.quoted(raw)
    );
    check.fail(column, "ERR_POS_024", message);
}

fn check_quantity(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    let max = check.limits.max_quantity;
    let value = match read_number(raw) {
        Number::Missing => {
            check.fail(QUANTITY, "ERR_POS_004", "Quantity is required");
            return None;
        }
        Number::Invalid => {
            let message = not_a_number("Quantity", &check.quoted(raw));
            check.fail(QUANTITY, "ERR_POS_005", message);
            return None;
        }
        Number::OutOfRange => {
            too_large(QUANTITY, raw, max, check);
            return None;
        }
        Number::Value(value) => value,
    };
    let mut valid = true;
    if value.is_zero() {
        check.fail(QUANTITY, "ERR_POS_006", "Quantity must not be zero");
        valid = false;
    }
    if decimal_places(raw) > MAX_QUANTITY_DECIMALS {
        let message = too_precise("Quantity", &check.quoted(raw), MAX_QUANTITY_DECIMALS);
        check.fail(QUANTITY, "ERR_POS_007", message);
        valid = false;
    }
    if value.abs() > max {
        too_large(QUANTITY, raw, max, check);
        valid = false;
    }
    valid.then_some(value)
}

fn check_entry_price(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    let name = COLUMNS[ENTRY_PRICE];
    let max = check.limits.max_price;
    let value = match read_number(raw) {
        Number::Missing => {
            check.fail(ENTRY_PRICE, "ERR_POS_008", format!("{name} is required"));
            return None;
        }
        Number::Invalid => {
            let message = not_a_number(name, &check.quoted(raw));
            check.fail(ENTRY_PRICE, "ERR_POS_009", message);
            return None;
        }
        Number::OutOfRange => {
            too_large(ENTRY_PRICE, raw, max, check);
            return None;
        }
        Number::Value(value) => value,
    };
    let mut valid = true;
    if value <= Decimal::ZERO {
        let message = format!(
            "{name} must be greater than zero, not {}",
            check.quoted(raw)
        );
        check.fail(ENTRY_PRICE, "ERR_POS_010", message);
        valid = false;
    }
    if decimal_places(raw) > MAX_PRICE_DECIMALS {
        let message = too_precise(name, &check.quoted(raw), MAX_PRICE_DECIMALS);
        check.fail(ENTRY_PRICE, "ERR_POS_011", message);
        valid = false;
    }
    if value > max {
        too_large(ENTRY_PRICE, raw, max, check);
        valid = false;
    }
    valid.then_some(value)
}

fn check_entry_date(raw: &str, today: NaiveDate, check: &mut RowCheck) -> Option<NaiveDate> {
    if raw.is_empty() {
        check.fail(ENTRY_DATE, "ERR_POS_012", "Entry Date is required");
        return None;
    }
    let Some(date) = parse_date(raw) else {
        let message = bad_date("Entry Date", &check.quoted(raw));
        check.fail(ENTRY_DATE, "ERR_POS_013", message);
        return None;
    };
    if date > today {
        let message = format!("Entry Date {date} is in the future (today is {today})");
        check.fail(ENTRY_DATE, "ERR_POS_014", message);
        return None;
    }
    let oldest = today.checked_sub_days(Days::new(MAX_AGE_DAYS));
    if oldest.is_some_and(|oldest| date < oldest) {
        let message = format!("Entry Date {date} is more than {MAX_AGE_DAYS} days (100 years) ago");
        check.fail(ENTRY_DATE, "ERR_POS_015", message);
        return None;
    }
    Some(date)
}

/// Checks the subtype against the class; a blank subtype gets the class default.
fn check_subtype(
    raw: &str,
    class: InvestmentClass,
    options: &OptionFields,
    check: &mut RowCheck,
) -> Option<String> {
    let subtype = raw.to_ascii_uppercase();
    let implied = options.option_type.map(|t| t.as_str());
    if subtype.is_empty() {
        return match class {
            InvestmentClass::Public => Some("STOCK".to_string()),
            InvestmentClass::Private => Some("OTHER".to_string()),
            InvestmentClass::Options => implied.map(str::to_string),
        };
    }
    let allowed = match class {
        InvestmentClass::Public => PUBLIC_SUBTYPES,
        InvestmentClass::Options => OPTIONS_SUBTYPES,
        InvestmentClass::Private => PRIVATE_SUBTYPES,
    };
    if !allowed.contains(&subtype.as_str()) {
        let message = format!(
            "Investment Subtype {} is not valid for {class}; use one of {}",
            check.quoted(raw),
            allowed.join(", ")
        );
        check.fail(SUBTYPE, "ERR_POS_017", message);
        return None;
    }
    if let Some(implied) = implied.filter(|t| *t != subtype) {
        let message = format!(
            "Investment Subtype {} contradicts Option Type {implied}",
            check.quoted(raw)
        );
        check.fail(SUBTYPE, "ERR_POS_017", message);
        return None;
    }
    Some(subtype)
}

/// `ERR_POS_026` for every option column filled on a row of another class: a value the
/// import would otherwise drop without a word.
fn check_no_option_columns(row: &Row, class: InvestmentClass, check: &mut RowCheck) {
    for column in OPTION_COLUMNS {
        if row.has(column) {
            let message = format!(
                "{} is only for OPTIONS rows; this row's Investment Class is {class}",
                COLUMNS[column]
            );
            check.fail(column, "ERR_POS_026", message);
        }
    }
}

fn check_options(row: &Row, entry_date: Option<NaiveDate>, check: &mut RowCheck) -> OptionFields {
    OptionFields {
        underlying: check_underlying(row.get(UNDERLYING), check),
        strike: check_strike(row.get(STRIKE), check),
        expiration: check_expiration(row.get(EXPIRATION), entry_date, check),
        option_type: check_option_type(row.get(OPTION_TYPE), check),
    }
}

fn check_underlying(raw: &str, check: &mut RowCheck) -> Option<String> {
    if raw.is_empty() {
        check.fail(
            UNDERLYING,
            "ERR_POS_019",
            "an option needs an Underlying Symbol",
        );
        return None;
    }
    check_symbol_text(UNDERLYING, raw, check)
}

fn check_strike(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    let max = check.limits.max_price;
    let problem = match read_number(raw) {
        Number::Value(value) if value > max => {
            too_large(STRIKE, raw, max, check);
            return None;
        }
        Number::Value(_) if decimal_places(raw) > MAX_OPTION_PRICE_DECIMALS => too_precise(
            "Strike Price",
            &check.quoted(raw),
            MAX_OPTION_PRICE_DECIMALS,
        ),
        Number::Value(value) if value > Decimal::ZERO => return Some(value),
        Number::Value(_) => format!(
            "Strike Price must be greater than zero, not {}",
            check.quoted(raw)
        ),
        Number::Missing => "an option needs a Strike Price".to_string(),
        Number::Invalid => not_a_number("Strike Price", &check.quoted(raw)),
        Number::OutOfRange => {
            too_large(STRIKE, raw, max, check);
            return None;
        }
    };
    check.fail(STRIKE, "ERR_POS_020", problem);
    None
}

fn check_expiration(
    raw: &str,
    entry_date: Option<NaiveDate>,
    check: &mut RowCheck,
) -> Option<NaiveDate> {
    let problem = match parse_date(raw) {
        Some(date) => match entry_date {
            Some(entry) if date < entry => {
                format!("Expiration Date {date} is before the Entry Date {entry}")
            }
            _ => return Some(date),
        },
        None if raw.is_empty() => "an option needs an Expiration Date".to_string(),
        None => bad_date("Expiration Date", &check.quoted(raw)),
    };
    check.fail(EXPIRATION, "ERR_POS_021", problem);
    None
}

fn check_option_type(raw: &str, check: &mut RowCheck) -> Option<OptionType> {
    let parsed = OptionType::parse(raw);
    if parsed.is_none() {
        let message = if raw.is_empty() {
            "an option needs an Option Type (CALL or PUT)".to_string()
        } else {
            format!("Option Type {} is not CALL or PUT", check.quoted(raw))
        };
        check.fail(OPTION_TYPE, "ERR_POS_022", message);
    }
    parsed
}

fn check_exit_date(
    raw: &str,
    entry_date: Option<NaiveDate>,
    check: &mut RowCheck,
) -> Option<NaiveDate> {
    if raw.is_empty() {
        return None;
    }
    let Some(date) = parse_date(raw) else {
        let message = bad_date("Exit Date", &check.quoted(raw));
        check.fail(EXIT_DATE, "ERR_POS_013", message);
        return None;
    };
    if let Some(entry) = entry_date.filter(|entry| date < *entry) {
        let message = format!("Exit Date {date} is before the Entry Date {entry}");
        check.fail(EXIT_DATE, "ERR_POS_018", message);
        return None;
    }
    Some(date)
}

fn check_exit_price(raw: &str, has_exit_date: bool, check: &mut RowCheck) -> Option<Decimal> {
    let max = check.limits.max_price;
    let value = match read_number(raw) {
        Number::Missing => return None,
        Number::OutOfRange => {
            too_large(EXIT_PRICE, raw, max, check);
            return None;
        }
        Number::Value(value) if value > max => {
            too_large(EXIT_PRICE, raw, max, check);
            return None;
        }
        Number::Value(value)
            if value > Decimal::ZERO && decimal_places(raw) <= MAX_OPTION_PRICE_DECIMALS =>
        {
            value
        }
        _ => {
            let message = format!(
                "Exit Price Per Share must be a number greater than zero with at most {MAX_OPTION_PRICE_DECIMALS} decimal places, not {}",
                check.quoted(raw)
            );
            check.fail(EXIT_PRICE, "ERR_POS_018", message);
            return None;
        }
    };
    if !has_exit_date {
        let message =
            "Exit Price Per Share is given without an Exit Date; a closed position needs both";
        check.fail(EXIT_DATE, "ERR_POS_018", message);
        return None;
    }
    Some(value)
}

/// Flags a (symbol, entry date) pair already seen in an earlier row.
fn check_duplicate(
    symbol: Option<&str>,
    entry_date: Option<NaiveDate>,
    check: &mut RowCheck,
    first_seen: &mut HashMap<(String, NaiveDate), usize>,
) {
    let (Some(symbol), Some(date)) = (symbol, entry_date) else {
        return;
    };
    let first = *first_seen
        .entry((symbol.to_string(), date))
        .or_insert(check.row);
    if first != check.row {
        let message = format!(
            "{} with Entry Date {date} repeats row {first}",
            shown(symbol, check.limits.max_echo_chars)
        );
        check.fail(SYMBOL, "ERR_POS_023", message);
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

enum Number {
    Missing,
    Invalid,
    /// Plain decimal notation, but beyond what a decimal holds.
    OutOfRange,
    Value(Decimal),
}

/// Reads plain decimal notation: optional sign, digits, optional fraction.
/// No exponents, separators or spaces.
fn read_number(raw: &str) -> Number {
    if raw.is_empty() {
        return Number::Missing;
    }
    if !is_plain_decimal(raw) {
        return Number::Invalid;
    }
    match Decimal::from_str(raw) {
        Ok(value) => Number::Value(value),
        Err(_) => Number::OutOfRange,
    }
}

/// A number in the CSV's notation (see [`read_number`]); `None` for anything else. The
/// form's `equity_balance` is read by it too.
pub fn parse_decimal(raw: &str) -> Option<Decimal> {
    match read_number(raw) {
        Number::Value(value) => Some(value),
        _ => None,
    }
}

fn is_plain_decimal(raw: &str) -> bool {
    let unsigned = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty()) && all_digits(whole) && all_digits(fraction)
}

/// Decimal places as written, trailing zeros ignored: `1.500` has 1.
fn decimal_places(raw: &str) -> usize {
    raw.split_once('.')
        .map_or(0, |(_, fraction)| fraction.trim_end_matches('0').len())
}

/// Parses exactly `YYYY-MM-DD`.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

fn not_a_number(name: &str, quoted: &str) -> String {
    format!("{name} {quoted} is not a number")
}

fn too_precise(name: &str, quoted: &str, places: usize) -> String {
    format!("{name} {quoted} has more than {places} decimal places")
}

fn bad_date(name: &str, quoted: &str) -> String {
    format!("{name} {quoted} is not a date in the form YYYY-MM-DD")
}

#[cfg(test)]
mod tests;
