//! History in the store: every audit (per environment its status and counts), every drift
//! episode (written by [`super::alerts`] as alerts open and resolve), every deployment (from
//! [`crate::core::deployments`]), and what the DORA computation reads back. History older than
//! `[store] retention` is deleted after each audit.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, at, ms};
use crate::core::deployments::{self, Key, Running, Step};
use crate::core::dora::{Declaration, Deployment, DeploymentKind, Episode, Window};
use crate::core::model::Severity;
use crate::core::report::{Report, Status};

/// Where a new deployment's digest was declared: this environment's commit and the chain's
/// first declarations. Given by the caller (git history), which the store does not read.
pub type Attribution = (Option<Declaration>, Vec<Declaration>);

impl Store {
    /// Records an audit and each audited environment's status and counts.
    pub async fn record_audit(&self, report: &Report) -> Result<(), StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let id = uuid::Uuid::new_v4().to_string();
        let took = (report.finished_at - report.started_at).num_milliseconds().max(0);
        let mut tx = self.pool.begin().await.map_err(w)?;
        sqlx::query(
            "INSERT INTO audits (id, started_at, finished_at, commit_id, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(ms(report.started_at))
        .bind(ms(report.finished_at))
        .bind(report.gitops.commit.clone())
        .bind(took)
        .execute(&mut *tx)
        .await
        .map_err(w)?;
        for env in &report.environments {
            let count = |s: Severity| {
                report
                    .findings
                    .iter()
                    .filter(|f| f.environment == env.name && f.severity == s)
                    .count() as i64
            };
            sqlx::query(
                "INSERT INTO audit_environments (audit_id, environment, status, critical, warning, info,
                 declared_workloads, live_workloads, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(&env.name)
            .bind(status(env.status))
            .bind(count(Severity::Critical))
            .bind(count(Severity::Warning))
            .bind(count(Severity::Info))
            .bind(env.declared_workloads as i64)
            .bind(env.live_workloads as i64)
            .bind(env.error())
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        }
        tx.commit().await.map_err(w)
    }

    /// What `report` changes in the deployment history, per environment whose cluster was read
    /// (an environment whose cluster could not be read has no runs, and changes nothing), seen
    /// at `now`: the time the alert state records for the same audit, so that a hand change
    /// and the drift it causes start at the same instant.
    pub async fn deployment_steps(&self, report: &Report, now: DateTime<Utc>) -> Result<DeploymentSteps, StoreError> {
        let now = super::truncate(now);
        let mut steps = Vec::new();
        for env in &report.environments {
            let known = self.running(&env.name).await?;
            let env_steps = deployments::steps(&env.name, &env.runs, &known, now);
            if !env_steps.is_empty() {
                steps.push((env.name.clone(), env_steps));
            }
        }
        Ok(DeploymentSteps { at: now, steps })
    }

    /// Records `steps`, and returns the new deployments. `attribute` says where git declared a
    /// deployment's digest (or the tag it runs), asked only for deployments that are not hand
    /// changes.
    pub async fn record_deployments(
        &self,
        steps: DeploymentSteps,
        attribute: impl Fn(&Deployment) -> Attribution,
    ) -> Result<Vec<Deployment>, StoreError> {
        let now = steps.at;
        let mut new = Vec::new();
        for (env, steps) in steps.steps {
            let w = |e: sqlx::Error| self.write_error(&e);
            let mut tx = self.pool.begin().await.map_err(w)?;
            for step in steps {
                match step {
                    Step::Baseline(key, running) => put_running(&mut tx, &env, &key, &running).await.map_err(w)?,
                    Step::Started(key, running, mut d) => {
                        if d.kind != DeploymentKind::Hand {
                            (d.declared, d.lineage) = attribute(&d);
                        }
                        put_running(&mut tx, &env, &key, &running).await.map_err(w)?;
                        insert_deployment(&mut tx, &d, now).await.map_err(w)?;
                        new.push(*d);
                    }
                    Step::Completed {
                        key,
                        running,
                        digest,
                        started_at,
                        completed_at,
                    } => {
                        put_running(&mut tx, &env, &key, &running).await.map_err(w)?;
                        sqlx::query(
                            "UPDATE deployments SET completed_at = $1 WHERE environment = $2 AND workload = $3
                             AND container = $4 AND digest = $5 AND started_at = $6 AND completed_at IS NULL",
                        )
                        .bind(ms(completed_at))
                        .bind(&env)
                        .bind(&key.0)
                        .bind(&key.1)
                        .bind(&digest)
                        .bind(ms(started_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(w)?;
                    }
                }
            }
            tx.commit().await.map_err(w)?;
        }
        Ok(new)
    }

    async fn running(&self, environment: &str) -> Result<BTreeMap<Key, Running>, StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let rows = sqlx::query(
            "SELECT workload, container, digest, previous, deployment_started_at, complete, since
             FROM running WHERE environment = $1",
        )
        .bind(environment)
        .fetch_all(&self.pool)
        .await
        .map_err(r)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let previous: String = row.try_get(3).map_err(r)?;
            out.insert(
                (row.try_get(0).map_err(r)?, row.try_get(1).map_err(r)?),
                Running {
                    digest: row.try_get(2).map_err(r)?,
                    previous: serde_json::from_str(&previous).unwrap_or_default(),
                    deployment_started_at: row.try_get::<Option<i64>, _>(4).map_err(r)?.map(at),
                    complete: row.try_get::<i64, _>(5).map_err(r)? != 0,
                    since: at(row.try_get(6).map_err(r)?),
                },
            );
        }
        Ok(out)
    }

    /// Deployments of `environments` (all when empty) that completed in `window`, or started
    /// before its end and have not completed; and those up to `lookahead` after it, so that a
    /// failure just after the window is seen.
    pub async fn deployments(&self, window: Window, lookahead: Duration) -> Result<Vec<Deployment>, StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let until = ms(window.until) + i64::try_from(lookahead.as_millis()).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT environment, workload, container, digest, previous_digest, kind, started_at, completed_at,
             declared_commit, declared_at, declared_revert, lineage FROM deployments
             WHERE (completed_at >= $1 AND completed_at < $2) OR (completed_at IS NULL AND started_at < $2)
             ORDER BY started_at",
        )
        .bind(ms(window.since))
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .map_err(r)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let environment: String = row.try_get(0).map_err(r)?;
            let kind: String = row.try_get(5).map_err(r)?;
            let declared = match (
                row.try_get::<Option<String>, _>(8).map_err(r)?,
                row.try_get::<Option<i64>, _>(9).map_err(r)?,
            ) {
                (Some(commit), Some(t)) => Some(Declaration {
                    environment: environment.clone(),
                    commit,
                    at: at(t),
                    revert: row.try_get::<i64, _>(10).map_err(r)? != 0,
                }),
                _ => None,
            };
            let lineage: String = row.try_get(11).map_err(r)?;
            out.push(Deployment {
                environment,
                workload: row.try_get(1).map_err(r)?,
                container: row.try_get(2).map_err(r)?,
                digest: row.try_get(3).map_err(r)?,
                previous_digest: row.try_get(4).map_err(r)?,
                kind: match kind.as_str() {
                    "rollback" => DeploymentKind::Rollback,
                    "hand" => DeploymentKind::Hand,
                    _ => DeploymentKind::Promotion,
                },
                started_at: at(row.try_get(6).map_err(r)?),
                completed_at: row.try_get::<Option<i64>, _>(7).map_err(r)?.map(at),
                declared,
                lineage: serde_json::from_str(&lineage).unwrap_or_default(),
                lineage_unjudged: None,
            });
        }
        Ok(out)
    }

    /// Drift episodes that were open at some time in `window` (extended by `lookahead`), except
    /// those that ended because an ignore rule accepted them.
    pub async fn episodes(&self, window: Window, lookahead: Duration) -> Result<Vec<Episode>, StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let until = ms(window.until) + i64::try_from(lookahead.as_millis()).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT environment, workload, container, finding_type, fingerprint, first_seen, resolved_at
             FROM drift_episodes WHERE first_seen < $2 AND (resolved_at IS NULL OR resolved_at >= $1)
             AND (ended_by IS NULL OR ended_by = 'resolved') ORDER BY first_seen",
        )
        .bind(ms(window.since))
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .map_err(r)?;
        rows.into_iter()
            .map(|row| {
                Ok(Episode {
                    environment: row.try_get(0).map_err(r)?,
                    workload: row.try_get(1).map_err(r)?,
                    container: row.try_get(2).map_err(r)?,
                    finding_type: row.try_get(3).map_err(r)?,
                    fingerprint: row.try_get(4).map_err(r)?,
                    first_seen: at(row.try_get(5).map_err(r)?),
                    resolved_at: row.try_get::<Option<i64>, _>(6).map_err(r)?.map(at),
                })
            })
            .collect()
    }

    /// How many audits the store holds, and the first one's start (for `check-config`).
    pub async fn audits(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let row = sqlx::query("SELECT COUNT(*), MIN(started_at) FROM audits")
            .fetch_one(&self.pool)
            .await
            .map_err(r)?;
        Ok((
            row.try_get(0).map_err(r)?,
            row.try_get::<Option<i64>, _>(1).map_err(r)?.map(at),
        ))
    }

    /// Deletes history that ended before `now - retention`: audits, closed episodes and
    /// completed deployments. Open episodes and what runs now stay whatever their age.
    pub async fn prune_history(&self, retention: Duration, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let cutoff = ms(now) - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let mut tx = self.pool.begin().await.map_err(w)?;
        let mut deleted = 0;
        deleted += sqlx::query(
            "DELETE FROM audit_environments WHERE audit_id IN (SELECT id FROM audits WHERE started_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(w)?
        .rows_affected();
        for sql in [
            "DELETE FROM audits WHERE started_at < $1",
            "DELETE FROM drift_episodes WHERE resolved_at IS NOT NULL AND resolved_at < $1",
            "DELETE FROM deployments WHERE completed_at IS NOT NULL AND completed_at < $1",
        ] {
            deleted += sqlx::query(sql)
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(w)?
                .rows_affected();
        }
        tx.commit().await.map_err(w)?;
        Ok(deleted)
    }
}

/// What one audit changes in the deployment history, before it is recorded.
#[derive(Debug)]
pub struct DeploymentSteps {
    at: DateTime<Utc>,
    steps: Vec<(String, Vec<Step>)>,
}

impl DeploymentSteps {
    /// Whether any new deployment needs to know where git declared its digest.
    pub fn needs_attribution(&self) -> bool {
        self.steps
            .iter()
            .flat_map(|(_, s)| s)
            .any(|s| matches!(s, Step::Started(_, _, d) if d.kind != DeploymentKind::Hand))
    }
}

type Transaction = sqlx::Transaction<'static, sqlx::Any>;

async fn put_running(tx: &mut Transaction, environment: &str, key: &Key, r: &Running) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO running (environment, workload, container, digest, previous, deployment_started_at, complete, since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (environment, workload, container) DO UPDATE SET digest = excluded.digest,
         previous = excluded.previous, deployment_started_at = excluded.deployment_started_at,
         complete = excluded.complete, since = excluded.since",
    )
    .bind(environment)
    .bind(&key.0)
    .bind(&key.1)
    .bind(&r.digest)
    .bind(serde_json::to_string(&r.previous).unwrap_or_else(|_| "[]".into()))
    .bind(r.deployment_started_at.map(ms))
    .bind(i64::from(r.complete))
    .bind(ms(r.since))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn insert_deployment(tx: &mut Transaction, d: &Deployment, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let kind = match d.kind {
        DeploymentKind::Promotion => "promotion",
        DeploymentKind::Rollback => "rollback",
        DeploymentKind::Hand => "hand",
    };
    sqlx::query(
        "INSERT INTO deployments (environment, workload, container, digest, started_at, previous_digest, kind,
         completed_at, declared_commit, declared_at, declared_revert, lineage, first_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (environment, workload, container, digest, started_at) DO NOTHING",
    )
    .bind(&d.environment)
    .bind(&d.workload)
    .bind(&d.container)
    .bind(&d.digest)
    .bind(ms(d.started_at))
    .bind(d.previous_digest.clone())
    .bind(kind)
    .bind(d.completed_at.map(ms))
    .bind(d.declared.as_ref().map(|x| x.commit.clone()))
    .bind(d.declared.as_ref().map(|x| ms(x.at)))
    .bind(i64::from(d.declared.as_ref().is_some_and(|x| x.revert)))
    .bind(serde_json::to_string(&d.lineage).unwrap_or_else(|_| "[]".into()))
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Incomplete => "incomplete",
        Status::Error => "error",
    }
}
