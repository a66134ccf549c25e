-- Phase 5: sector tags (ANALYTICS §4). Tags belong to the portfolio's owner; a position carries
-- at most one tag named `Sector: …`, replaced on every run.
create table tags (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null references users (id) on delete cascade,
    name       text not null,
    color      text not null,
    created_at timestamptz not null default now(),
    constraint tags_user_name_unique unique (user_id, name)
);

create table position_tags (
    position_id uuid not null references positions (id) on delete cascade,
    tag_id      uuid not null references tags (id) on delete cascade,
    created_at  timestamptz not null default now(),
    constraint position_tags_pk primary key (position_id, tag_id)
);
create index position_tags_tag on position_tags (tag_id);

-- Phase 6: risk analytics for a portfolio's calculation date (ANALYTICS §7). A run replaces
-- every row of its (portfolio, date) in one transaction, so reruns never duplicate.
create table portfolio_factor_exposures (
    portfolio_id     uuid not null references portfolios (id) on delete cascade,
    calculation_date date not null,
    factor           text not null,
    ordinal          integer not null,
    beta             double precision,
    exposure_dollar  double precision not null,
    positions_used   integer not null,
    missing_symbols  jsonb not null default '[]',
    run_id           uuid,
    updated_at       timestamptz not null default now(),
    constraint portfolio_factor_exposures_pk primary key (portfolio_id, calculation_date, factor)
);

create table position_factor_exposures (
    portfolio_id     uuid not null references portfolios (id) on delete cascade,
    calculation_date date not null,
    position_id      uuid not null references positions (id) on delete cascade,
    symbol           text not null,
    factor           text not null,
    beta             double precision,
    weight           double precision,
    exposure_dollar  double precision not null,
    constraint position_factor_exposures_pk
        primary key (portfolio_id, calculation_date, position_id, factor)
);

-- One row per position and one (position_id null) for the portfolio's return series.
create table volatility_metrics (
    portfolio_id       uuid not null references portfolios (id) on delete cascade,
    calculation_date   date not null,
    position_id        uuid references positions (id) on delete cascade,
    symbol             text,
    realized_vol_21d   double precision,
    realized_vol_63d   double precision,
    expected_vol_1d    double precision,
    expected_vol_21d   double precision,
    har_coefficients   jsonb,
    model_r_squared    double precision,
    vol_trend          text,
    vol_trend_strength double precision,
    vol_percentile     double precision,
    observations       integer not null,
    run_id             uuid,
    updated_at         timestamptz not null default now()
);
create unique index volatility_metrics_key on volatility_metrics
    (portfolio_id, calculation_date, coalesce(position_id, '00000000-0000-0000-0000-000000000000'::uuid));

create table correlation_calculations (
    portfolio_id        uuid not null references portfolios (id) on delete cascade,
    calculation_date    date not null,
    lookback_returns    integer not null,
    overall_correlation double precision,
    effective_positions double precision,
    psd_repaired        boolean not null,
    min_eigenvalue      double precision,
    symbols             jsonb not null,
    matrix              jsonb not null,
    excluded            jsonb not null default '[]',
    run_id              uuid,
    updated_at          timestamptz not null default now(),
    constraint correlation_calculations_pk primary key (portfolio_id, calculation_date)
);

create table pairwise_correlations (
    portfolio_id     uuid not null,
    calculation_date date not null,
    symbol_1         text not null,
    symbol_2         text not null,
    correlation      double precision not null,
    data_points      integer not null,
    p_value          double precision,
    flagged          boolean not null,
    constraint pairwise_correlations_pk primary key (portfolio_id, calculation_date, symbol_1, symbol_2),
    constraint pairwise_correlations_calc foreign key (portfolio_id, calculation_date)
        references correlation_calculations (portfolio_id, calculation_date) on delete cascade
);

create table stress_test_results (
    portfolio_id       uuid not null references portfolios (id) on delete cascade,
    calculation_date   date not null,
    scenario_id        text not null,
    ordinal            integer not null,
    scenario_name      text not null,
    category           text not null,
    active             boolean not null,
    direct_pnl         double precision not null,
    correlated_pnl     double precision not null,
    correlation_effect double precision not null,
    capped             boolean not null,
    direct_pnl_raw     double precision not null,
    correlated_pnl_raw double precision not null,
    factor_impacts     jsonb not null,
    metadata           jsonb not null default '{}',
    run_id             uuid,
    updated_at         timestamptz not null default now(),
    constraint stress_test_results_pk primary key (portfolio_id, calculation_date, scenario_id)
);

alter table portfolio_snapshots add column expected_vol_1d double precision;
