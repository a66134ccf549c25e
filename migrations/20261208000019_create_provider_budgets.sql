-- The providers' request budgets, held by the whole deployment rather than by each worker
-- process: one row per provider, taken with one short statement per request (never across
-- an HTTP call).
create table provider_budgets (
    provider text not null,
    -- The earliest instant the next request may be sent (the generic cell rate algorithm's
    -- theoretical arrival time): each request takes the slot at greatest(next_at,
    -- paused_until, now) and moves it on by the provider's spacing (60 s / rate, plus a
    -- margin), so no 60 s window ever holds more than the rate.
    next_at timestamptz not null default 'epoch',
    -- A 429 pauses the provider for every worker until then.
    paused_until timestamptz not null default 'epoch',
    -- The provider's day (UTC) and the requests counted on it, for the daily quota.
    day date not null default '1970-01-01',
    used_today integer not null default 0,
    constraint provider_budgets_pk primary key (provider),
    constraint provider_budgets_used_today_check check (used_today >= 0)
);

-- Symbols whose prices wait for a provider's daily quota: not failed, not unavailable; the
-- next run that needs them (a night, or a retry after the reset) asks for them first.
create table deferred_symbols (
    symbol text not null,
    deferred_at timestamptz not null default now(),
    -- When the earliest spent quota resets.
    resets_at timestamptz not null,
    -- The run that deferred it.
    run_id uuid,
    constraint deferred_symbols_pk primary key (symbol)
);
