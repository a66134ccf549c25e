//! The phase list of DESIGN §3: ids, names and units are the contract with the frontend.

/// One phase of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseDef {
    /// Stable id, e.g. `phase_1_5`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What `current`/`total` count.
    pub unit: &'static str,
    /// Display order (1-based).
    pub ordinal: i32,
}

/// Market Data Collection.
pub const PHASE_1: PhaseDef = PhaseDef {
    id: "phase_1",
    name: "Market Data Collection",
    unit: "symbols",
    ordinal: 1,
};
/// Factor Analysis.
pub const PHASE_1_5: PhaseDef = PhaseDef {
    id: "phase_1_5",
    name: "Factor Analysis",
    unit: "symbols",
    ordinal: 2,
};
/// Symbol Metrics.
pub const PHASE_1_75: PhaseDef = PhaseDef {
    id: "phase_1_75",
    name: "Symbol Metrics",
    unit: "symbols",
    ordinal: 3,
};
/// Company Profile Sync.
pub const PHASE_0: PhaseDef = PhaseDef {
    id: "phase_0",
    name: "Company Profile Sync",
    unit: "symbols",
    ordinal: 4,
};
/// Fundamental Data Collection.
pub const PHASE_2: PhaseDef = PhaseDef {
    id: "phase_2",
    name: "Fundamental Data Collection",
    unit: "symbols",
    ordinal: 5,
};
/// P&L Calculation & Snapshots.
pub const PHASE_3: PhaseDef = PhaseDef {
    id: "phase_3",
    name: "P&L Calculation & Snapshots",
    unit: "dates",
    ordinal: 6,
};
/// Position Market Value Updates.
pub const PHASE_4: PhaseDef = PhaseDef {
    id: "phase_4",
    name: "Position Market Value Updates",
    unit: "positions",
    ordinal: 7,
};
/// Sector Tag Restoration.
pub const PHASE_5: PhaseDef = PhaseDef {
    id: "phase_5",
    name: "Sector Tag Restoration",
    unit: "positions",
    ordinal: 8,
};
/// Risk Analytics.
pub const PHASE_6: PhaseDef = PhaseDef {
    id: "phase_6",
    name: "Risk Analytics",
    unit: "items",
    ordinal: 9,
};

/// The daily batch's fan-out: one child run per portfolio; progress = children done.
pub const PORTFOLIOS: PhaseDef = PhaseDef {
    id: "portfolios",
    name: "Portfolio Updates",
    unit: "portfolios",
    ordinal: 6,
};

/// The phases of a daily batch run (the parent): symbol-level work once, then the fan-out.
pub const DAILY: [PhaseDef; 6] = [PHASE_1, PHASE_1_5, PHASE_1_75, PHASE_0, PHASE_2, PORTFOLIOS];

/// The phases of a daily batch's child run: the portfolio-level ones (the parent did the
/// symbol-level phases for the whole universe, so the child does not repeat them).
pub const PORTFOLIO_DAILY: [PhaseDef; 4] = [PHASE_3, PHASE_4, PHASE_5, PHASE_6];

/// Every phase of the design, in display order.
pub const ALL: [PhaseDef; 9] = [
    PHASE_1, PHASE_1_5, PHASE_1_75, PHASE_0, PHASE_2, PHASE_3, PHASE_4, PHASE_5, PHASE_6,
];

/// The phases of an onboarding (and of an admin run of one portfolio): all nine.
pub const ONBOARDING: [PhaseDef; 9] = ALL;

/// The symbol-level phases alone (a `symbol` run).
pub const SYMBOL: [PhaseDef; 5] = [PHASE_1, PHASE_1_5, PHASE_1_75, PHASE_0, PHASE_2];

impl crate::domain::RunKind {
    /// The phases a run of this kind executes, in order. The only place that says so: the
    /// worker's dispatch and the status document (a queued run's pending phases) read it.
    pub fn plan(self) -> &'static [PhaseDef] {
        use crate::domain::RunKind;
        match self {
            RunKind::Onboarding | RunKind::Admin => &ONBOARDING,
            RunKind::PortfolioDaily => &PORTFOLIO_DAILY,
            RunKind::Daily => &DAILY,
            RunKind::Symbol => &SYMBOL,
        }
    }
}

/// Looks a phase up by id.
pub fn by_id(id: &str) -> Option<&'static PhaseDef> {
    ALL.iter().find(|p| p.id == id)
}
