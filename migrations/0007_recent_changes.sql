-- Publishing refreshes its in-memory model of a stream from the rows the current transaction
-- wrote (updated_at = now(), the transaction's start time); these indexes make that a lookup.
CREATE INDEX flag_states_recent ON flag_states (environment_id, updated_at);
CREATE INDEX flags_recent ON flags (application_id, updated_at);
CREATE INDEX segments_recent ON segments (application_id, updated_at);
