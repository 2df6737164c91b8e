//! Signature verdicts in the store: which (repository, digest) a signature policy verified,
//! under which policy hash, with the evidence. Read once per policy per audit (one query), so a
//! warm audit asks the registry nothing for verified digests.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, ms};

/// A verified digest: (`registry/repository`, digest) and what verified it, one line each.
pub type Verified = ((String, String), Vec<String>);

impl Store {
    /// Every digest `policy_hash` verified, with its evidence.
    pub async fn verified_digests(&self, policy_hash: &str) -> Result<Vec<Verified>, StoreError> {
        let rows = sqlx::query("SELECT repository, digest, evidence FROM signature_verdicts WHERE policy_hash = $1")
            .bind(policy_hash)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.read_error(&e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let get = |i: usize| row.try_get::<String, _>(i).map_err(|e| self.read_error(&e));
            let evidence: Vec<String> = serde_json::from_str(&get(2)?).unwrap_or_default();
            out.push(((get(0)?, get(1)?), evidence));
        }
        Ok(out)
    }

    /// Records digests `policy` (at `policy_hash`) verified, and forgets what it verified
    /// under any other hash (its keys, identities, root or provenance changed since).
    pub async fn record_verified(
        &self,
        policy: &str,
        policy_hash: &str,
        verified: &[Verified],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM signature_verdicts WHERE policy = $1 AND policy_hash <> $2")
            .bind(policy)
            .bind(policy_hash)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        for ((repository, digest), evidence) in verified {
            sqlx::query(
                "INSERT INTO signature_verdicts (repository, digest, policy_hash, policy, evidence, verified_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (repository, digest, policy_hash) DO UPDATE SET evidence = excluded.evidence, verified_at = excluded.verified_at",
            )
            .bind(repository)
            .bind(digest)
            .bind(policy_hash)
            .bind(policy)
            .bind(serde_json::to_string(evidence).unwrap_or_default())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        }
        tx.commit().await.map_err(w)
    }
}
