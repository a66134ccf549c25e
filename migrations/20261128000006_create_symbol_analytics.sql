-- Symbol-level analytics (ANALYTICS §2–4), shared across portfolios and keyed by natural keys.

-- Phase 1.5: one row per (symbol, factor, calculation date); history kept.
create table symbol_factor_exposures (
    symbol           text not null,
    factor           text not null,
    calculation_date date not null,
    -- ridge | spread | ols_market | ols_ir | provider
    method           text not null,
    -- null when not computable (then `reason` says why), never 0
    beta             double precision,
    r_squared        double precision,
    observations     integer not null,
    -- the window in trading-day returns
    window_returns   integer not null,
    t_stat           double precision,
    p_value          double precision,
    std_error        double precision,
    alpha            double precision,
    -- tilt (spreads) or sensitivity (IR) label
    label            text,
    reason           text,
    run_id           uuid,
    updated_at       timestamptz not null default now(),
    constraint symbol_factor_exposures_pk primary key (symbol, factor, calculation_date),
    constraint symbol_factor_exposures_method_check check (method in ('ridge', 'spread', 'ols_market', 'ols_ir', 'provider'))
);

-- Phase 1.75: one row per (symbol, date); history kept (the original kept only the latest day).
create table symbol_metrics (
    symbol         text not null,
    metric_date    date not null,
    close          double precision,
    return_1d      double precision,
    return_mtd     double precision,
    return_ytd     double precision,
    return_1m      double precision,
    return_3m      double precision,
    return_1y      double precision,
    volatility_21d double precision,
    volatility_63d double precision,
    run_id         uuid,
    updated_at     timestamptz not null default now(),
    constraint symbol_metrics_pk primary key (symbol, metric_date)
);

-- Phase 0: the latest profile per symbol, refreshed when older than 24 h.
create table company_profiles (
    symbol         text primary key,
    name           text not null,
    sector         text,
    industry       text,
    exchange       text,
    country        text,
    market_cap     double precision,
    beta           double precision,
    trailing_pe    double precision,
    forward_pe     double precision,
    dividend_yield double precision,
    week_52_high   double precision,
    week_52_low    double precision,
    is_etf         boolean not null default false,
    is_fund        boolean not null default false,
    provider       text not null,
    fetched_at     timestamptz not null default now()
);

-- Phase 2: reported periods with the derived ratios.
create table fundamentals (
    symbol              text not null,
    -- quarterly | annual
    period_type         text not null,
    period_end          date not null,
    fiscal_year         integer not null,
    fiscal_quarter      integer,
    revenue             double precision,
    gross_profit        double precision,
    operating_income    double precision,
    net_income          double precision,
    diluted_eps         double precision,
    total_assets        double precision,
    total_equity        double precision,
    current_assets      double precision,
    current_liabilities double precision,
    total_debt          double precision,
    cash                double precision,
    operating_cash_flow double precision,
    capital_expenditure double precision,
    gross_margin        double precision,
    operating_margin    double precision,
    net_margin          double precision,
    net_debt            double precision,
    current_ratio       double precision,
    free_cash_flow      double precision,
    fetched_at          timestamptz not null default now(),
    constraint fundamentals_pk primary key (symbol, period_type, period_end),
    constraint fundamentals_period_type_check check (period_type in ('quarterly', 'annual'))
);

-- When a symbol's fundamentals were fetched and when its next earnings are due: refreshed
-- when missing or 3+ days past the next earnings date.
create table fundamentals_status (
    symbol             text primary key,
    next_earnings_date date,
    fetched_at         timestamptz not null default now()
);
