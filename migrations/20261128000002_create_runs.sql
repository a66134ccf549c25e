-- The runs table is both the job queue and the status of every run (DESIGN §2a).
create table runs (
    id               uuid primary key,
    kind             text not null,
    -- the daily parent of a portfolio_daily child run
    parent_id        uuid references runs (id) on delete cascade,
    portfolio_id     uuid references portfolios (id) on delete cascade,
    status           text not null default 'queued',
    -- 0 while never claimed; each claim (first run, retry, takeover) adds one
    attempt          integer not null default 0,
    max_attempts     integer not null default 3,
    source           text not null,
    params           jsonb not null default '{}',
    -- lower runs first
    priority         integer not null default 100,
    -- not claimable before this instant (backoff)
    run_at           timestamptz not null default now(),
    worker_id        text,
    lease_expires_at timestamptz,
    -- who held the lease of the previous attempt, for the takeover message
    previous_worker_id text,
    -- unique per logical job when set (e.g. one daily batch per trading date)
    idempotency_key  text,
    created_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    error            text,
    -- result summary: positions analyzed/total, unavailable symbols, trading days
    summary          jsonb not null default '{}',
    constraint runs_kind_check check (kind in ('onboarding', 'daily', 'portfolio_daily', 'symbol', 'admin')),
    constraint runs_status_check check (status in ('queued', 'running', 'completed', 'partial', 'failed', 'cancelled')),
    constraint runs_source_check check (source in ('onboarding', 'cron', 'admin', 'retry')),
    constraint runs_idempotency_key_unique unique (idempotency_key)
);

-- One active run per portfolio: a second request is refused by the database itself.
create unique index runs_one_active_per_portfolio
    on runs (portfolio_id)
    where status in ('queued', 'running') and portfolio_id is not null;

create index runs_claimable_idx on runs (priority, run_at) where status = 'queued';
create index runs_lease_idx on runs (lease_expires_at) where status = 'running';
create index runs_portfolio_created_idx on runs (portfolio_id, created_at desc);

-- Wake workers when a run becomes claimable.
create function runs_notify_queued() returns trigger
language plpgsql as $$
begin
    if new.status = 'queued' then
        perform pg_notify('sigmasight_runs_queued', new.id::text);
    end if;
    return null;
end;
$$;

create trigger runs_notify_queued
    after insert or update of status on runs
    for each row execute function runs_notify_queued();

-- One row per (run, attempt, phase): the progress the status page shows.
create table run_phases (
    run_id           uuid not null references runs (id) on delete cascade,
    attempt          integer not null,
    phase_id         text not null,
    -- display order of the phase (DESIGN §3)
    ordinal          integer not null,
    phase_name       text not null,
    status           text not null default 'pending',
    current          integer not null default 0,
    total            integer not null default 0,
    unit             text not null,
    started_at       timestamptz,
    finished_at      timestamptz,
    duration_seconds double precision,
    -- true when the phase completed in an earlier attempt and was carried over
    carried_over     boolean not null default false,
    summary          jsonb not null default '{}',
    updated_at       timestamptz not null default now(),
    constraint run_phases_pk primary key (run_id, attempt, phase_id),
    constraint run_phases_status_check check (status in ('pending', 'running', 'completed', 'warning', 'failed', 'skipped'))
);

-- Activity entries: never capped here; the UI shows the last 50 non-debug ones.
create table run_activity (
    id         bigserial primary key,
    run_id     uuid not null references runs (id) on delete cascade,
    attempt    integer not null,
    ts         timestamptz not null,
    level      text not null,
    phase_id   text,
    message    text not null,
    -- debug entries appear only in the download with include_debug=true
    debug      boolean not null default false,
    constraint run_activity_level_check check (level in ('info', 'warning', 'error'))
);

create index run_activity_run_idx on run_activity (run_id, id);
