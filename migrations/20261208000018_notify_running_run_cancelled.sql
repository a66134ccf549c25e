-- A running run that is cancelled (by an admin, or with its parent) tells the workers at
-- once, with its id: the one holding it drops the attempt's work and frees its slot, instead
-- of learning it at its next lease renewal (every TTL/3) while a hung phase holds the slot.
create function runs_notify_cancelled() returns trigger
language plpgsql as $$
begin
    perform pg_notify('sigmasight_run_cancelled', new.id::text);
    return null;
end;
$$;

create trigger runs_notify_cancelled
    after update of status on runs
    for each row
    when (new.status = 'cancelled' and old.status = 'running')
    execute function runs_notify_cancelled();
