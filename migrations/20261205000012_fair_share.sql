-- Fair share across users (issue 16): runs of one priority are claimed round-robin across
-- their owners instead of in arrival order. Each run carries its owner (the portfolio's user)
-- and `fair_seq`, its place in its owner's queue at that priority when it was queued: one
-- more than the owner's last waiting run's (1 when none waits). The claim orders by (priority, fair_seq,
-- run_at): every owner's first waiting run before anyone's second. The order is an index, so
-- the claim stays one index probe whatever the backlog.
alter table runs add column owner_id uuid references users (id) on delete cascade;
alter table runs add column fair_seq bigint not null default 1;

update runs r set owner_id = p.user_id from portfolios p where p.id = r.portfolio_id;

-- The owner's last waiting run when a run is queued: one index probe, whatever its backlog.
create index runs_owner_queued_idx on runs (owner_id, priority, fair_seq) where status = 'queued';

drop index runs_claimable_idx;
create index runs_claimable_idx on runs (priority, fair_seq, run_at) where status = 'queued';
