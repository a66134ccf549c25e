//! Domain vocabulary shared by every part: position classes and types, option types.
//! Pure data: no database, no HTTP.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Investment class of a position, stored upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
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

    /// Contract multiplier: 100 for options, 1 otherwise (the one place that says so).
    pub fn contract_multiplier(self) -> i64 {
        if self.is_option() {
            100
        } else {
            1
        }
    }

    /// [`Self::contract_multiplier`] for the analytics, in f64.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
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

/// Declares a text-backed enum: serde and sqlx (a `text` column) map it to the same
/// snake_case names, which [`as_str`] returns and `FromStr` parses.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[sqlx(type_name = "text", rename_all = "snake_case")]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownName {
                        what: stringify!($name),
                        name: other.chars().take(40).collect(),
                    }),
                }
            }
        }
    };
}

/// A name that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a {what}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

text_enum! {
    /// What a run does (DESIGN §3).
    RunKind {
        /// A new portfolio's first run: all nine phases.
        Onboarding => "onboarding",
        /// The nightly batch's parent: the symbol phases over the universe, then the fan-out.
        Daily => "daily",
        /// One portfolio's part of a nightly batch: the portfolio phases.
        PortfolioDaily => "portfolio_daily",
        /// Symbol-level work only (reserved).
        Symbol => "symbol",
        /// A portfolio run an admin or the calculate endpoint started: all nine phases.
        Admin => "admin",
    }
}

text_enum! {
    /// Where a run is in its life.
    RunStatus {
        Queued => "queued",
        Running => "running",
        Completed => "completed",
        Partial => "partial",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

impl RunStatus {
    /// Queued or running.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }

    /// Completed, partial, failed or cancelled: nothing more will happen.
    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }
}

text_enum! {
    /// Who or what started a run.
    RunSource {
        Onboarding => "onboarding",
        Cron => "cron",
        Admin => "admin",
        Retry => "retry",
    }
}

text_enum! {
    /// One phase of one attempt.
    PhaseStatus {
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Warning => "warning",
        Failed => "failed",
        Skipped => "skipped",
    }
}

impl PhaseStatus {
    /// How a phase that ran to its end finished: `Warning` when something was left out or
    /// flagged, else `Completed`.
    pub fn finished(with_warnings: bool) -> Self {
        if with_warnings {
            Self::Warning
        } else {
            Self::Completed
        }
    }

    /// Completed or completed with warnings.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Completed | Self::Warning)
    }
}

text_enum! {
    /// The level of an activity entry.
    ActivityLevel {
        Info => "info",
        Warning => "warning",
        Error => "error",
    }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_text_and_json() {
        for k in RunKind::ALL {
            assert_eq!(k.as_str().parse::<RunKind>(), Ok(*k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::json!(k.as_str()))
            );
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
        }
        for s in PhaseStatus::ALL {
            assert_eq!(s.as_str().parse::<PhaseStatus>(), Ok(*s));
        }
        for l in ActivityLevel::ALL {
            assert_eq!(l.as_str().parse::<ActivityLevel>(), Ok(*l));
        }
        for s in RunSource::ALL {
            assert_eq!(s.as_str().parse::<RunSource>(), Ok(*s));
        }
        assert_eq!(RunKind::PortfolioDaily.as_str(), "portfolio_daily");
        let err = "nightly".parse::<RunKind>().err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("\"nightly\" is not a RunKind"));
        assert!(RunStatus::Partial.is_terminal() && RunStatus::Queued.is_active());
    }
}
