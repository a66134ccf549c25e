//! Domain vocabulary shared by every part: position classes and types, option types.
//! Pure data: no database, no HTTP.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Investment class of a position, stored upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvestmentClass {
    Public,
    Options,
    Private,
}

impl InvestmentClass {
    /// The stored, upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::Options => "OPTIONS",
            Self::Private => "PRIVATE",
        }
    }

    /// Parses a class name case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PUBLIC" => Some(Self::Public),
            "OPTIONS" => Some(Self::Options),
            "PRIVATE" => Some(Self::Private),
            _ => None,
        }
    }
}

impl fmt::Display for InvestmentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Position type: long/short for stocks and others, LC/LP/SC/SP for options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PositionType {
    #[serde(rename = "LONG")]
    Long,
    #[serde(rename = "SHORT")]
    Short,
    /// Long call.
    #[serde(rename = "LC")]
    Lc,
    /// Long put.
    #[serde(rename = "LP")]
    Lp,
    /// Short call.
    #[serde(rename = "SC")]
    Sc,
    /// Short put.
    #[serde(rename = "SP")]
    Sp,
}

impl PositionType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Long => "LONG",
            Self::Short => "SHORT",
            Self::Lc => "LC",
            Self::Lp => "LP",
            Self::Sc => "SC",
            Self::Sp => "SP",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "LONG" => Some(Self::Long),
            "SHORT" => Some(Self::Short),
            "LC" => Some(Self::Lc),
            "LP" => Some(Self::Lp),
            "SC" => Some(Self::Sc),
            "SP" => Some(Self::Sp),
            _ => None,
        }
    }

    /// True for LC, LP, SC, SP.
    pub fn is_option(self) -> bool {
        matches!(self, Self::Lc | Self::Lp | Self::Sc | Self::Sp)
    }

    /// Contract multiplier: 100 for options, 1 otherwise.
    pub fn multiplier(self) -> f64 {
        if self.is_option() {
            100.0
        } else {
            1.0
        }
    }

    /// The type implied by an option type (or none) and the sign of the quantity.
    pub fn from_parts(option_type: Option<OptionType>, quantity_positive: bool) -> Self {
        match (option_type, quantity_positive) {
            (Some(OptionType::Call), true) => Self::Lc,
            (Some(OptionType::Call), false) => Self::Sc,
            (Some(OptionType::Put), true) => Self::Lp,
            (Some(OptionType::Put), false) => Self::Sp,
            (None, true) => Self::Long,
            (None, false) => Self::Short,
        }
    }
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OptionType {
    Call,
    Put,
}

impl OptionType {
    /// The stored, upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "CALL",
            Self::Put => "PUT",
        }
    }

    /// Parses case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CALL" => Some(Self::Call),
            "PUT" => Some(Self::Put),
            _ => None,
        }
    }
}

/// The factor ETFs every run's symbol scope includes (ANALYTICS §1).
pub const FACTOR_ETFS: [&str; 8] = ["SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT"];
