-- +goose Up
-- search_tsquery is the one definition of what a search box's words match, used by every list that searches:
-- words in websearch syntax ("quoted phrase", or, -not), never an error whatever they hold; prefix, when the caller
-- gives one, a to_tsquery of plain words whose last is a prefix (store/search.go builds it from letters and digits
-- only), OR-ed in so that a word still being typed already finds what it begins.
-- +goose StatementBegin
CREATE FUNCTION search_tsquery(words text, prefix text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN prefix IS NULL THEN websearch_to_tsquery('simple', words)
                ELSE websearch_to_tsquery('simple', words) || to_tsquery('simple', prefix) END
$$;
-- +goose StatementEnd

-- Full-text search where workflows and forms do not have it yet (they carry a generated tsvector since 0001):
-- integration names and execution errors. Expression indexes rather than stored columns: no table rewrite, nothing
-- added to every execution row on the hot path, and a plain CREATE INDEX also works on a partitioned parent.
-- Queries repeat the indexed expression exactly, or the planner cannot use it.
CREATE INDEX integrations_search_idx ON integrations USING gin (to_tsvector('simple', name));
-- Only failed executions have an error; the partial index stays as small as the failures.
CREATE INDEX workflow_executions_error_search_idx ON workflow_executions
    USING gin (to_tsvector('simple', coalesce(error, ''))) WHERE error IS NOT NULL;

-- +goose Down
DROP INDEX workflow_executions_error_search_idx;
DROP INDEX integrations_search_idx;
DROP FUNCTION search_tsquery(text, text);
