-- Daily closes, one row per (symbol, trading date). Analytics read them as f64, so they
-- are stored as double precision (split-adjusted closes from the provider).
create table market_prices (
    symbol     text not null,
    price_date date not null,
    close      double precision not null,
    volume     bigint not null default 0,
    source     text not null,
    fetched_at timestamptz not null default now(),
    constraint market_prices_pk primary key (symbol, price_date)
);

-- Symbols a provider could not supply: remembered so they are tried at most once per run.
create table symbol_availability (
    symbol     text primary key,
    available  boolean not null,
    reason     text,
    provider   text not null,
    checked_at timestamptz not null default now(),
    -- the run that last checked it
    run_id     uuid
);
