-- +goose Up
-- History tables partitioned by day (UTC) with Postgres's declarative range partitioning, so that retention drops
-- whole partitions instead of deleting rows, and queries that know the time (or the id) read only its days.
--
--   * workflow_executions, audit_log, webhook_deliveries: by their id, a UUIDv7 whose first 48 bits are the Unix
--     milliseconds of its creation. A lookup by id (every detail page, every worker write) then prunes to one
--     partition, the primary key stays the id alone, and the foreign keys that reference an execution keep working.
--   * node_executions: by execution_id with the same bounds, so an execution and its node runs share their day and
--     a lookup of an execution's runs reads one partition. Its primary key becomes (execution_id, id).
--   * workflow_stats_minutes: by minute.
--
-- Partitions are created ahead by the maintenance job (sql/store HistoryMaintenance). A row whose day has no
-- partition is refused rather than parked in a default partition: a default partition would have to be scanned
-- every time a partition is created, and would forbid DETACH … CONCURRENTLY, which retention uses so as not to
-- block the hot path. The migration creates the coming week's partitions itself.
--
-- Three references become unchecked, because each foreign key into a partitioned table makes detaching one of its
-- partitions scan the referencing table: node_executions.execution_id (the pruner and WorkflowDelete remove node
-- runs with their executions; an organization's removal still cascades through organization_id),
-- workflow_executions.retry_of and webhook_deliveries.execution_id (informative links, read with LEFT JOIN). The
-- other references into workflow_executions (uploads, e-mail deliveries, form submissions, notifications) stay
-- foreign keys: those rows are cleared by the pruner before a partition is detached.

-- uuid_v7_floor is the smallest UUIDv7 created at t: the bound of a partition by id, and the id bound a query by
-- time adds so that it prunes. Immutable: a Unix epoch does not depend on the session's time zone.
CREATE FUNCTION uuid_v7_floor(t timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid
$$;

-- history_id_floor is the smallest id a row created at or after t may carry: uuid_v7_floor an hour early, for the
-- clock of the process that made the id (ids are made in Go, created_at by the database). A query by creation time
-- adds id >= history_id_floor(t) so that it reads only the partitions from that day on.
CREATE FUNCTION history_id_floor(t timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT uuid_v7_floor(t - interval '1 hour')
$$;

-- uuid_v7_time is the creation time carried by a UUIDv7.
CREATE FUNCTION uuid_v7_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0)
$$;

-- history_partition_create creates the partition of parent for one UTC day, parent_pYYYYMMDD, unless it exists; it
-- reports whether it created it. The bounds follow the type of parent's partition key: a UUIDv7 or a timestamptz.
-- +goose StatementBegin
CREATE FUNCTION history_partition_create(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := parent || '_p' || to_char(day, 'YYYYMMDD');
    key_type text;
    day_start timestamptz := day::timestamp AT TIME ZONE 'UTC';
    day_end timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(partition_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT format_type(a.atttypid, NULL) INTO key_type
    FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = parent::regclass;
    IF key_type = 'uuid' THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            partition_name, parent, uuid_v7_floor(day_start), uuid_v7_floor(day_end));
    ELSE
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            partition_name, parent, day_start, day_end);
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- history_partition_day is the UTC day a partition of a history table holds, from its bounds; NULL for a table that
-- is not a day partition.
-- +goose StatementBegin
CREATE FUNCTION history_partition_day(partition regclass) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT to_date(substring(partition::text FROM '_p([0-9]{8})$'), 'YYYYMMDD')
$$;
-- +goose StatementEnd

-- rebuild_table rebuilds table tbl with its rows, as a table partitioned by range of key (or, key NULL, as a plain
-- table): same columns, defaults and checks, same index names, primary key pk (if any), the foreign keys it had (but
-- those named in unchecked) and those that referenced it (but those from tables in unchecked_from). Rows go to day
-- partitions made for every day they hold, and the coming week's partitions are made too.
-- +goose StatementBegin
CREATE FUNCTION pg_temp.rebuild_table(tbl text, key text, pk text, unchecked text[], unchecked_from text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    index_defs text[];
    outgoing text[];
    incoming text[];
    stmt text;
    day date;
    key_is_uuid boolean;
BEGIN
    SELECT coalesce(array_agg(replace(indexdef, ' ON ONLY ', ' ON ')), '{}') INTO index_defs FROM pg_indexes i
    WHERE i.schemaname = 'public' AND i.tablename = tbl
      AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = tbl::regclass AND contype = 'p');
    SELECT coalesce(array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl, conname, pg_get_constraintdef(oid))), '{}')
    INTO outgoing FROM pg_constraint
    WHERE conrelid = tbl::regclass AND contype = 'f' AND conparentid = 0 AND NOT conname = ANY(unchecked);
    SELECT coalesce(array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
        pg_get_constraintdef(oid))), '{}')
    INTO incoming FROM pg_constraint
    WHERE confrelid = tbl::regclass AND contype = 'f' AND conparentid = 0 AND conrelid <> tbl::regclass
      AND NOT conrelid::regclass::text = ANY(unchecked_from);

    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, tbl || '_unpartitioned');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) %s',
        tbl, tbl || '_unpartitioned', CASE WHEN key IS NULL THEN '' ELSE format('PARTITION BY RANGE (%I)', key) END);
    IF key IS NOT NULL THEN
        SELECT format_type(atttypid, NULL) = 'uuid' INTO key_is_uuid FROM pg_attribute
        WHERE attrelid = tbl::regclass AND attname = key;
        FOR day IN EXECUTE format(
            'SELECT DISTINCT (%s AT TIME ZONE ''UTC'')::date FROM %I',
            CASE WHEN key_is_uuid THEN format('uuid_v7_time(%I)', key) ELSE quote_ident(key) END,
            tbl || '_unpartitioned')
        LOOP
            PERFORM history_partition_create(tbl, day);
        END LOOP;
        FOR day IN SELECT generate_series(current_date - 1, current_date + 7, interval '1 day')::date LOOP
            PERFORM history_partition_create(tbl, day);
        END LOOP;
    END IF;
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, tbl || '_unpartitioned');
    EXECUTE format('DROP TABLE %I CASCADE', tbl || '_unpartitioned');
    IF pk IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', tbl, pk);
    END IF;
    FOREACH stmt IN ARRAY index_defs || outgoing || incoming LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;
-- +goose StatementEnd

SELECT pg_temp.rebuild_table('workflow_executions', 'id', 'id',
    ARRAY['workflow_executions_retry_of_fkey'], ARRAY['node_executions', 'webhook_deliveries']);
SELECT pg_temp.rebuild_table('node_executions', 'execution_id', 'execution_id, id', '{}', '{}');
SELECT pg_temp.rebuild_table('webhook_deliveries', 'id', 'id', '{}', '{}');
SELECT pg_temp.rebuild_table('audit_log', 'id', 'id', '{}', '{}');
-- The statistics rollup rewrites whole minutes; its unique key already holds the minute.
SELECT pg_temp.rebuild_table('workflow_stats_minutes', 'minute', NULL, '{}', '{}');

-- What the pruner clears before it detaches a partition of workflow_executions is found by execution id range
-- (form submissions, uploads and e-mail deliveries have their index already).
CREATE INDEX notifications_last_execution_idx ON notifications (last_execution_id) WHERE last_execution_id IS NOT NULL;

-- +goose Down
DROP INDEX notifications_last_execution_idx;

-- rebuild_table rebuilds table tbl with its rows, as a table partitioned by range of key (or, key NULL, as a plain
-- table): same columns, defaults and checks, same index names, primary key pk (if any), the foreign keys it had (but
-- those named in unchecked) and those that referenced it (but those from tables in unchecked_from). Rows go to day
-- partitions made for every day they hold, and the coming week's partitions are made too.
-- +goose StatementBegin
CREATE FUNCTION pg_temp.rebuild_table(tbl text, key text, pk text, unchecked text[], unchecked_from text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    index_defs text[];
    outgoing text[];
    incoming text[];
    stmt text;
    day date;
    key_is_uuid boolean;
BEGIN
    SELECT coalesce(array_agg(replace(indexdef, ' ON ONLY ', ' ON ')), '{}') INTO index_defs FROM pg_indexes i
    WHERE i.schemaname = 'public' AND i.tablename = tbl
      AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = tbl::regclass AND contype = 'p');
    SELECT coalesce(array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl, conname, pg_get_constraintdef(oid))), '{}')
    INTO outgoing FROM pg_constraint
    WHERE conrelid = tbl::regclass AND contype = 'f' AND conparentid = 0 AND NOT conname = ANY(unchecked);
    SELECT coalesce(array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
        pg_get_constraintdef(oid))), '{}')
    INTO incoming FROM pg_constraint
    WHERE confrelid = tbl::regclass AND contype = 'f' AND conparentid = 0 AND conrelid <> tbl::regclass
      AND NOT conrelid::regclass::text = ANY(unchecked_from);

    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, tbl || '_unpartitioned');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) %s',
        tbl, tbl || '_unpartitioned', CASE WHEN key IS NULL THEN '' ELSE format('PARTITION BY RANGE (%I)', key) END);
    IF key IS NOT NULL THEN
        SELECT format_type(atttypid, NULL) = 'uuid' INTO key_is_uuid FROM pg_attribute
        WHERE attrelid = tbl::regclass AND attname = key;
        FOR day IN EXECUTE format(
            'SELECT DISTINCT (%s AT TIME ZONE ''UTC'')::date FROM %I',
            CASE WHEN key_is_uuid THEN format('uuid_v7_time(%I)', key) ELSE quote_ident(key) END,
            tbl || '_unpartitioned')
        LOOP
            PERFORM history_partition_create(tbl, day);
        END LOOP;
        FOR day IN SELECT generate_series(current_date - 1, current_date + 7, interval '1 day')::date LOOP
            PERFORM history_partition_create(tbl, day);
        END LOOP;
    END IF;
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, tbl || '_unpartitioned');
    EXECUTE format('DROP TABLE %I CASCADE', tbl || '_unpartitioned');
    IF pk IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', tbl, pk);
    END IF;
    FOREACH stmt IN ARRAY index_defs || outgoing || incoming LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;
-- +goose StatementEnd

SELECT pg_temp.rebuild_table('workflow_stats_minutes', NULL, NULL, '{}', '{}');
SELECT pg_temp.rebuild_table('audit_log', NULL, 'id', '{}', '{}');
SELECT pg_temp.rebuild_table('webhook_deliveries', NULL, 'id', '{}', '{}');
SELECT pg_temp.rebuild_table('node_executions', NULL, 'id', '{}', '{}');
SELECT pg_temp.rebuild_table('workflow_executions', NULL, 'id', '{}', '{}');
-- Rows whose referent was pruned without a check go, as the checked keys would have had them go.
DELETE FROM node_executions n WHERE NOT EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = n.execution_id);
UPDATE workflow_executions e SET retry_of = NULL
WHERE retry_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workflow_executions r WHERE r.id = e.retry_of);
UPDATE webhook_deliveries d SET execution_id = NULL
WHERE execution_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = d.execution_id);
ALTER TABLE node_executions ADD CONSTRAINT node_executions_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES workflow_executions (id) ON DELETE CASCADE;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_retry_of_fkey
    FOREIGN KEY (retry_of) REFERENCES workflow_executions (id) ON DELETE SET NULL;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES workflow_executions (id) ON DELETE SET NULL;
DROP FUNCTION history_id_floor(timestamptz), history_partition_day(regclass), history_partition_create(text, date), uuid_v7_time(uuid),
    uuid_v7_floor(timestamptz);
