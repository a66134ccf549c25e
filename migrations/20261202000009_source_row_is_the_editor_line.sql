-- The create migration's comment on positions.source_row ("header = row 1") predates
-- issue 14: rows are now the line an editor shows (comments and blank lines count). The
-- migration itself cannot be edited (sqlx checksums applied migrations), so the catalog
-- carries the current meaning.
comment on column positions.source_row is
    'line of the uploaded CSV the position came from, as an editor numbers it (comment and blank lines count; a quoted field spanning lines takes its first line)';
