-- Phase 6 writes every position's exposure to each of 13 factors: hundreds of rows a run,
-- and a foreign key checked per row (a lookup and a row lock on `positions` each) made that
-- insert the costliest statement of a nightly child run. Positions are never deleted on
-- their own (only with their portfolio, whose key here still cascades), and the only writer
-- inserts ids it has just read from the portfolio's positions, so the key guarded nothing.
alter table position_factor_exposures
    drop constraint position_factor_exposures_position_id_fkey;
