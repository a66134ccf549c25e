-- Real providers: a restated price history (a split, or a symbol refetched from another
-- provider) makes the portfolios holding it recompute their snapshots from the first
-- changed date on their next run.
alter table portfolios add column recompute_from date;

-- An unavailable verdict is trusted for SIGMASIGHT_UNAVAILABLE_TTL_HOURS: looked up by age.
create index symbol_availability_unavailable_idx
    on symbol_availability (checked_at) where not available;

-- Symbols a provider chain has no profile or fundamentals for: remembered like unavailable
-- prices, so a second portfolio holding them asks no provider again within the TTL.
create table symbol_data_misses (
    symbol     text not null,
    kind       text not null check (kind in ('profile', 'fundamentals')),
    reason     text,
    checked_at timestamptz not null default now(),
    constraint symbol_data_misses_pk primary key (symbol, kind)
);
