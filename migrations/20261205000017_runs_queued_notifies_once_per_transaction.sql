-- A run that becomes claimable wakes the workers with one notification per transaction,
-- not one per run. Postgres folds notifications of the same channel and payload within a
-- transaction; with the run's id as payload, a nightly fan-out of 1,000 children sent 1,000,
-- and each woke every worker for a claim that found nothing (their batch slots taken): two
-- of every three claims of a night. No listener reads the payload.
create or replace function runs_notify_queued() returns trigger
language plpgsql as $$
begin
    if new.status = 'queued' then
        perform pg_notify('sigmasight_runs_queued', '');
    end if;
    return null;
end;
$$;
