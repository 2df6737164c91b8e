-- driftwatch store, version 1. Portable SQL: the same statements run on SQLite and PostgreSQL
-- (times are UTC milliseconds in BIGINT, flags are INTEGER 0/1, keys are natural or text).

-- Alert state: one row per alert (fingerprint), what it is about as JSON.
CREATE TABLE alerts (
    fingerprint TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    resolved_at BIGINT
);

-- What each channel was told about each alert, and who is sending it now.
CREATE TABLE alert_deliveries (
    fingerprint TEXT NOT NULL,
    channel TEXT NOT NULL,
    notified_at BIGINT,
    resolved_notified INTEGER NOT NULL DEFAULT 0,
    -- A process sending this notice now (host/pid/uuid), until claimed_until.
    claimed_by TEXT,
    claimed_until BIGINT,
    PRIMARY KEY (fingerprint, channel)
);

-- Every audit, and per environment its status and counts.
CREATE TABLE audits (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    commit_id TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX audits_started_at ON audits (started_at);

CREATE TABLE audit_environments (
    audit_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    critical BIGINT NOT NULL,
    warning BIGINT NOT NULL,
    info BIGINT NOT NULL,
    declared_workloads BIGINT NOT NULL,
    live_workloads BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (audit_id, environment)
);

-- Every drift episode: a finding from first seen to resolved (or ignored).
CREATE TABLE drift_episodes (
    fingerprint TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    environment TEXT NOT NULL,
    workload TEXT,
    container TEXT,
    finding_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    resolved_at BIGINT,
    -- 'resolved' or 'ignored' once it ended.
    ended_by TEXT,
    PRIMARY KEY (fingerprint, first_seen)
);
CREATE INDEX drift_episodes_resolved_at ON drift_episodes (resolved_at);

-- Every deployment: a workload container moving to a new digest in an environment.
CREATE TABLE deployments (
    environment TEXT NOT NULL,
    workload TEXT NOT NULL,
    container TEXT NOT NULL,
    digest TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    previous_digest TEXT,
    kind TEXT NOT NULL,
    completed_at BIGINT,
    declared_commit TEXT,
    declared_at BIGINT,
    declared_revert INTEGER NOT NULL DEFAULT 0,
    -- The digest's first declaration per environment of the promoted_from chain (JSON).
    lineage TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (environment, workload, container, digest, started_at)
);
CREATE INDEX deployments_completed_at ON deployments (completed_at);

-- What each container runs now, to see the next deployment.
CREATE TABLE running (
    environment TEXT NOT NULL,
    workload TEXT NOT NULL,
    container TEXT NOT NULL,
    digest TEXT NOT NULL,
    -- Digests it ran before, newest first (JSON), to tell a rollback.
    previous TEXT NOT NULL,
    -- The deployment to `digest`, when one was seen (its started_at), and whether it completed.
    deployment_started_at BIGINT,
    complete INTEGER NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (environment, workload, container)
);
