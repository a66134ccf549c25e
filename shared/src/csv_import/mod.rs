//! CSV import of portfolio positions.
//!
//! [`parse_positions`] turns an uploaded CSV file into validated
//! [`ParsedPosition`]s, or fails with a [`CsvError`]. It is all or nothing:
//! file-level problems stop at the first one found (codes `ERR_CSV_001` to
//! `ERR_CSV_007`), while row-level problems are all collected, for every row,
//! and returned together as [`CsvError::Validation`] (codes `ERR_POS_001` to
//! `ERR_POS_023`).
//!
//! The file is UTF-8 (an optional BOM is dropped), with LF or CRLF line
//! endings. Lines whose trimmed text starts with `#` and blank lines are
//! dropped before the CSV is read. The first remaining record is the header:
//! column names are matched exactly (case-sensitive), in any order; the first
//! four [`COLUMNS`] are required, the other eight may be left out. Rows are
//! numbered as records after that clean-up, the header being row 1, so the
//! first data row is row 2; a record whose values are all empty is skipped but
//! still uses its number. Values are trimmed.
//!
//! [`template_csv`] returns a ready-to-fill example file.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use csv::{ReaderBuilder, StringRecord, Trim};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{InvestmentClass, OptionType, PositionType};

/// The largest accepted file, in bytes (10 MiB).
pub const MAX_CSV_BYTES: usize = 10 * 1024 * 1024;

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

/// The columns whose presence makes a row with a blank class an options row.
const OPTION_COLUMNS: [usize; 4] = [UNDERLYING, STRIKE, EXPIRATION, OPTION_TYPE];

const MAX_SYMBOL_CHARS: usize = 100;
const MAX_QUANTITY_DECIMALS: usize = 6;
const MAX_PRICE_DECIMALS: usize = 2;
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

/// One validated position read from a CSV row.
///
/// Option fields (`underlying_symbol`, `strike_price`, `expiration_date`,
/// `option_type`) are set for OPTIONS rows only; on other rows they are `None`
/// whatever the file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedPosition {
    /// Row number in the file: the header is row 1, the first data row is row 2.
    pub row: usize,
    /// Symbol, upper case (an OPTIONS row's blank symbol becomes its underlying).
    pub symbol: String,
    /// Signed quantity; never zero, at most 6 decimal places.
    pub quantity: Decimal,
    /// Entry price per share; positive, at most 2 decimal places.
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
    /// Strike price of an option.
    pub strike_price: Option<Decimal>,
    /// Expiration date of an option.
    pub expiration_date: Option<NaiveDate>,
    /// Call or put.
    pub option_type: Option<OptionType>,
    /// Exit date of a closed position.
    pub exit_date: Option<NaiveDate>,
    /// Exit price per share of a closed position.
    pub exit_price: Option<Decimal>,
}

/// One problem found in one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// Row number in the file (header = 1).
    pub row: usize,
    /// Name of the column at fault, as in [`COLUMNS`].
    pub column: Option<String>,
    /// The row's symbol as written, if it has one.
    pub symbol: Option<String>,
    /// Error code, `ERR_POS_001` to `ERR_POS_023`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// Why a file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// `ERR_CSV_001`: the file is larger than [`MAX_CSV_BYTES`].
    #[error("the file is {size} bytes; the limit is {MAX_CSV_BYTES} bytes (10 MiB)")]
    TooLarge {
        /// Size of the file in bytes.
        size: usize,
    },
    /// `ERR_CSV_002`: the file name does not end in `.csv`.
    #[error("the file name {name:?} does not end in .csv")]
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
    #[error("the required column {column:?} is missing")]
    MissingColumn {
        /// The missing column.
        column: String,
    },
    /// `ERR_CSV_007`: the header names a column that is not in [`COLUMNS`].
    #[error("unknown column {column:?}; the allowed columns are: {}", COLUMNS.join(", "))]
    UnknownColumn {
        /// The unknown name, as written.
        column: String,
    },
    /// `ERR_CSV_007`: the header names a column twice.
    #[error("the column {column:?} appears more than once")]
    RepeatedColumn {
        /// The repeated column.
        column: String,
    },
    /// `ERR_CSV_003`: a header but no data rows.
    #[error("the file has a header but no data rows")]
    NoDataRows,
    /// `ERR_CSV_VALIDATION`: one or more rows are invalid; every problem, in row order.
    #[error("{} problem(s) found in the file's rows", .0.len())]
    Validation(Vec<RowError>),
}

impl CsvError {
    /// The error code: `ERR_CSV_001` to `ERR_CSV_007`, or `ERR_CSV_VALIDATION`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "ERR_CSV_001",
            Self::BadFileName { .. } => "ERR_CSV_002",
            Self::Empty | Self::NoDataRows => "ERR_CSV_003",
            Self::MissingColumn { .. } => "ERR_CSV_004",
            Self::NoHeader => "ERR_CSV_005",
            Self::Malformed { .. } => "ERR_CSV_006",
            Self::UnknownColumn { .. } | Self::RepeatedColumn { .. } => "ERR_CSV_007",
            Self::Validation(_) => "ERR_CSV_VALIDATION",
        }
    }
}

/// Parses and validates a whole CSV file of positions.
///
/// `today` bounds the entry dates (see [`today_in_new_york`]). Returns every
/// position, in row order, or an error; nothing partial is ever returned.
pub fn parse_positions(
    file_name: &str,
    bytes: &[u8],
    today: NaiveDate,
) -> Result<Vec<ParsedPosition>, CsvError> {
    check_file(file_name, bytes)?;
    let text = decode(bytes)?;
    let records = read_records(&strip_comments(text)?)?;
    let (header, data) = records.split_first().ok_or(CsvError::Empty)?;
    let columns = ColumnMap::from_header(header)?;
    validate_rows(&columns, data, today)
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

fn check_file(file_name: &str, bytes: &[u8]) -> Result<(), CsvError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(CsvError::TooLarge { size: bytes.len() });
    }
    if !file_name.to_ascii_lowercase().ends_with(".csv") {
        return Err(CsvError::BadFileName {
            name: file_name.to_string(),
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

/// Drops comment and blank lines (outside quoted fields); fails on an unterminated quote.
fn strip_comments(text: &str) -> Result<String, CsvError> {
    let mut kept = String::with_capacity(text.len());
    let mut in_quotes = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if !in_quotes && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if line.matches('"').count() % 2 == 1 {
            in_quotes = !in_quotes;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    if in_quotes {
        return Err(CsvError::Malformed {
            message: "a quoted field is never closed".to_string(),
        });
    }
    if kept.is_empty() {
        return Err(CsvError::Empty);
    }
    Ok(kept)
}

/// Reads every record, checking that each has as many fields as the header.
fn read_records(text: &str) -> Result<Vec<StringRecord>, CsvError> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(text.as_bytes());
    let mut records: Vec<StringRecord> = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|e| CsvError::Malformed {
            message: e.to_string(),
        })?;
        if let Some(header) = records.first() {
            check_width(records.len() + 1, &record, header.len())?;
        }
        records.push(record);
    }
    Ok(records)
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
}

impl ColumnMap {
    fn from_header(header: &StringRecord) -> Result<Self, CsvError> {
        let looks_like_header = header
            .iter()
            .any(|name| COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(name)));
        if !looks_like_header {
            return Err(CsvError::NoHeader);
        }
        let mut positions = [None; COLUMNS.len()];
        for (position, name) in header.iter().enumerate() {
            let column =
                COLUMNS
                    .iter()
                    .position(|c| *c == name)
                    .ok_or_else(|| CsvError::UnknownColumn {
                        column: name.to_string(),
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
            }),
            None => Ok(Self { positions }),
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
    fn get(&self, column: usize) -> &str {
        self.columns.positions[column]
            .and_then(|p| self.record.get(p))
            .unwrap_or("")
    }

    fn has(&self, column: usize) -> bool {
        !self.get(column).is_empty()
    }
}

/// Collects the problems of one row.
struct RowCheck {
    row: usize,
    symbol: Option<String>,
    errors: Vec<RowError>,
}

impl RowCheck {
    fn fail(&mut self, column: usize, code: &'static str, message: impl Into<String>) {
        self.errors.push(RowError {
            row: self.row,
            column: Some(COLUMNS[column].to_string()),
            symbol: self.symbol.clone(),
            code,
            message: message.into(),
        });
    }
}

fn validate_rows(
    columns: &ColumnMap,
    data: &[StringRecord],
    today: NaiveDate,
) -> Result<Vec<ParsedPosition>, CsvError> {
    let mut positions = Vec::new();
    let mut errors = Vec::new();
    let mut first_seen: HashMap<(String, NaiveDate), usize> = HashMap::new();
    let mut any_data = false;
    for (index, record) in data.iter().enumerate() {
        if record.iter().all(str::is_empty) {
            continue;
        }
        any_data = true;
        let row = Row { columns, record };
        let mut check = RowCheck {
            row: index + 2,
            symbol: None,
            errors: Vec::new(),
        };
        let position = validate_row(&row, today, &mut check, &mut first_seen);
        errors.append(&mut check.errors);
        positions.extend(position);
    }
    if !any_data {
        return Err(CsvError::NoDataRows);
    }
    if !errors.is_empty() {
        return Err(CsvError::Validation(errors));
    }
    Ok(positions)
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
    check.symbol = (!symbol_text.is_empty()).then(|| symbol_text.to_string());

    let symbol = check_symbol(symbol_text, check);
    let quantity = check_quantity(row.get(QUANTITY), check);
    let entry_price = check_entry_price(row.get(ENTRY_PRICE), check);
    let entry_date = check_entry_date(row.get(ENTRY_DATE), today, check);
    let options = match class {
        Some(InvestmentClass::Options) => check_options(row, entry_date, check),
        Some(_) => OptionFields::default(),
        None => {
            check.fail(CLASS, "ERR_POS_016", unknown_class(row.get(CLASS)));
            OptionFields::default()
        }
    };
    let subtype = class.and_then(|c| check_subtype(row.get(SUBTYPE), c, &options, check));
    let exit_date = check_exit_date(row.get(EXIT_DATE), entry_date, check);
    let exit_price = check_exit_price(row.get(EXIT_PRICE), check);
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

fn unknown_class(raw: &str) -> String {
    format!("Investment Class {raw:?} is not one of PUBLIC, OPTIONS, PRIVATE")
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
        let shown: String = raw.chars().take(MAX_SYMBOL_CHARS).collect();
        let message = format!(
            "{name} {shown:?} may only contain letters, digits, '.', '_' and '-', and needs a letter or digit"
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

fn check_quantity(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    let value = match read_number(raw) {
        Number::Missing => {
            check.fail(QUANTITY, "ERR_POS_004", "Quantity is required");
            return None;
        }
        Number::Invalid => {
            check.fail(QUANTITY, "ERR_POS_005", not_a_number("Quantity", raw));
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
        check.fail(
            QUANTITY,
            "ERR_POS_007",
            too_precise("Quantity", raw, MAX_QUANTITY_DECIMALS),
        );
        valid = false;
    }
    valid.then_some(value)
}

fn check_entry_price(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    let name = COLUMNS[ENTRY_PRICE];
    let value = match read_number(raw) {
        Number::Missing => {
            check.fail(ENTRY_PRICE, "ERR_POS_008", format!("{name} is required"));
            return None;
        }
        Number::Invalid => {
            check.fail(ENTRY_PRICE, "ERR_POS_009", not_a_number(name, raw));
            return None;
        }
        Number::Value(value) => value,
    };
    let mut valid = true;
    if value <= Decimal::ZERO {
        check.fail(
            ENTRY_PRICE,
            "ERR_POS_010",
            format!("{name} must be greater than zero, not {raw}"),
        );
        valid = false;
    }
    if decimal_places(raw) > MAX_PRICE_DECIMALS {
        check.fail(
            ENTRY_PRICE,
            "ERR_POS_011",
            too_precise(name, raw, MAX_PRICE_DECIMALS),
        );
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
        check.fail(ENTRY_DATE, "ERR_POS_013", bad_date("Entry Date", raw));
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
            "Investment Subtype {raw:?} is not valid for {class}; use one of {}",
            allowed.join(", ")
        );
        check.fail(SUBTYPE, "ERR_POS_017", message);
        return None;
    }
    if let Some(implied) = implied.filter(|t| *t != subtype) {
        let message = format!("Investment Subtype {raw:?} contradicts Option Type {implied}");
        check.fail(SUBTYPE, "ERR_POS_017", message);
        return None;
    }
    Some(subtype)
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
    let problem = match read_number(raw) {
        Number::Value(value) if value > Decimal::ZERO => return Some(value),
        Number::Value(_) => format!("Strike Price must be greater than zero, not {raw}"),
        Number::Missing => "an option needs a Strike Price".to_string(),
        Number::Invalid => not_a_number("Strike Price", raw),
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
        None => bad_date("Expiration Date", raw),
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
            format!("Option Type {raw:?} is not CALL or PUT")
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
        check.fail(EXIT_DATE, "ERR_POS_013", bad_date("Exit Date", raw));
        return None;
    };
    if let Some(entry) = entry_date.filter(|entry| date < *entry) {
        let message = format!("Exit Date {date} is before the Entry Date {entry}");
        check.fail(EXIT_DATE, "ERR_POS_018", message);
        return None;
    }
    Some(date)
}

fn check_exit_price(raw: &str, check: &mut RowCheck) -> Option<Decimal> {
    match read_number(raw) {
        Number::Missing => None,
        Number::Value(value) if value > Decimal::ZERO => Some(value),
        _ => {
            let message =
                format!("Exit Price Per Share must be a number greater than zero, not {raw:?}");
            check.fail(EXIT_PRICE, "ERR_POS_018", message);
            None
        }
    }
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
        let message = format!("{symbol} with Entry Date {date} repeats row {first}");
        check.fail(SYMBOL, "ERR_POS_023", message);
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

enum Number {
    Missing,
    Invalid,
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
        Err(_) => Number::Invalid,
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

fn not_a_number(name: &str, raw: &str) -> String {
    format!("{name} {raw:?} is not a number")
}

fn too_precise(name: &str, raw: &str, places: usize) -> String {
    format!("{name} {raw} has more than {places} decimal places")
}

fn bad_date(name: &str, raw: &str) -> String {
    format!("{name} {raw:?} is not a date in the form YYYY-MM-DD")
}

#[cfg(test)]
mod tests;
