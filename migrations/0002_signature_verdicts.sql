-- driftwatch store, version 2: signature verdicts. A digest's bytes never change, so a verdict
-- holds as long as the policy that reached it: keyed by the policy's hash (key fingerprints,
-- identities, trusted root digest, provenance). Only verified digests are kept: negative
-- verdicts are checked again each audit, so a signature pushed later counts at once.
CREATE TABLE signature_verdicts (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    -- The policy's name, to drop its verdicts under an older hash when it changes.
    policy TEXT NOT NULL,
    -- What verified (JSON list of lines), shown again when the verdict is read back.
    evidence TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest, policy_hash)
);
CREATE INDEX signature_verdicts_policy ON signature_verdicts (policy, policy_hash);
