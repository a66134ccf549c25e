-- Performance and tail risk of a portfolio on each calculation date (ANALYTICS §7b), from its
-- own snapshot series; written by phase 6 for every date phase 3 (re)wrote. A null figure
-- has its reason in null_reasons, never a 0.
create table portfolio_tail_risk (
    portfolio_id uuid not null references portfolios (id) on delete cascade,
    calculation_date date not null,
    -- Non-null daily returns in the window (the last n ≤ 252 up to the date) and its dates.
    n integer not null,
    window_start date,
    window_end date,
    -- Dates with both a portfolio and a SPY return (the last m ≤ 252) and their range.
    m integer not null,
    market_window_start date,
    market_window_end date,
    -- E_d, the snapshot equity the dollar figures multiply.
    equity float8 not null,
    -- One-day VaR and CVaR as positive returns (a loss); dollars are these × equity.
    var_hist_95 float8,
    var_hist_99 float8,
    cvar_hist_95 float8,
    cvar_hist_99 float8,
    var_param_95 float8,
    var_param_99 float8,
    cvar_param_95 float8,
    cvar_param_99 float8,
    annualised_return float8,
    annualised_volatility float8,
    sharpe float8,
    sortino float8,
    calmar float8,
    -- Over the whole snapshot history up to the date, not only the window.
    max_drawdown float8,
    max_drawdown_peak_date date,
    max_drawdown_trough_date date,
    max_drawdown_recovery_date date,
    current_drawdown float8,
    tracking_error float8,
    information_ratio float8,
    realised_beta float8,
    up_capture float8,
    down_capture float8,
    -- {figure: reason} for every null figure.
    null_reasons jsonb not null default '{}',
    -- The running drawdown state after this date (running peak, worst drawdown so far, its
    -- dates): the next date continues from it, so a night reads only its window.
    drawdown_state jsonb not null,
    run_id uuid,
    updated_at timestamptz not null default now(),
    constraint portfolio_tail_risk_pk primary key (portfolio_id, calculation_date)
);
