-- name: ErrorWorkflowTargets :many
-- ErrorWorkflowTargets pairs failed executions with the error workflows to start for them: the active workflows of
-- the same organization whose current version starts with a trigger.error watching any workflow or the failed
-- one's. It returns what the error workflows' trigger data needs (the failed node's name and type come from the
-- failed version's definition). A failure of an error workflow has none: neither an execution started by one
-- (trigger kind error) nor any execution of a workflow whose failed version starts with trigger.error, so error
-- workflows never trigger themselves or each other. Each organization's watchers are read once per call.
WITH failed AS (
    SELECT f.id, f.organization_id, f.workflow_id, f.workflow_version_id, f.version, f.trigger_kind,
        f.trigger_data, f.error, f.failed_node_id, f.started_at, f.finished_at, fw.name AS workflow_name,
        fv.definition
    FROM workflow_executions f
    JOIN workflows fw ON fw.id = f.workflow_id
    JOIN workflow_versions fv ON fv.id = f.workflow_version_id
    WHERE f.id = ANY(@ids::uuid[]) AND f.status = 'failed' AND f.trigger_kind <> 'error'
      AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(fv.definition->'nodes') AS n
                      WHERE n->>'type' = 'trigger.error')
), watchers AS MATERIALIZED (
    SELECT w.id, w.organization_id, w.priority, w.created_at, v.id AS version_id, v.number AS version,
        coalesce(t.node->'config', '{}'::jsonb) AS config
    FROM workflows w
    JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version
    CROSS JOIN LATERAL (
        SELECT n AS node FROM jsonb_array_elements(v.definition->'nodes') AS n
        WHERE n->>'type' = 'trigger.error' LIMIT 1
    ) t
    WHERE w.organization_id IN (SELECT organization_id FROM failed) AND w.active AND w.archived_at IS NULL
)
SELECT f.id AS failed_id, f.organization_id, f.workflow_id AS failed_workflow_id,
    f.workflow_name AS failed_workflow_name, f.version AS failed_version, f.trigger_kind AS failed_trigger_kind,
    f.trigger_data AS failed_trigger_data, f.error AS failed_error, f.failed_node_id,
    f.started_at AS failed_started_at, f.finished_at AS failed_finished_at,
    coalesce((SELECT n->>'name' FROM jsonb_array_elements(f.definition->'nodes') AS n
              WHERE n->>'id' = f.failed_node_id LIMIT 1), '')::text AS failed_node_name,
    coalesce((SELECT n->>'type' FROM jsonb_array_elements(f.definition->'nodes') AS n
              WHERE n->>'id' = f.failed_node_id LIMIT 1), '')::text AS failed_node_type,
    w.id AS workflow_id, w.priority, w.version_id, w.version, w.config::jsonb AS trigger_config
FROM failed f
JOIN watchers w ON w.organization_id = f.organization_id
WHERE coalesce(w.config->>'watch', 'any') = 'any'
   OR (w.config->>'watch' = 'workflow' AND lower(w.config->>'workflow_id') = f.workflow_id::text)
ORDER BY f.id, w.created_at, w.id;
