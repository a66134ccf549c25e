-- Queue statements whose cost follows the work, never the history (issue 16): each one below
-- is answered from a partial index, so a runs table with years of finished runs costs the
-- claim, the reaper and the parent bookkeeping nothing.

-- A parent's children (the counts that end a daily batch, the orphaned-parent check): only
-- child runs are indexed, with their status so "any still active?" is an index-only probe.
create index runs_parent_idx on runs (parent_id, status) where parent_id is not null;

-- Parked daily parents (running, no lease: waiting for their children).
create index runs_parked_idx on runs (id)
    where status = 'running' and lease_expires_at is null and kind = 'daily';
