//! Alert state in the store. An audit's observation is one write transaction (load, prune,
//! observe, save the changed alerts, open and close drift episodes). Sending is claimed per
//! notice: under the row's lock (`BEGIN IMMEDIATE` in SQLite, `FOR UPDATE` in PostgreSQL) the
//! notice is checked to be still owed and not being sent by another live process, then marked
//! as claimed by this one; its delivery is recorded in its own transaction as soon as the
//! channel took it. Two processes or replicas sharing the store therefore never send the same
//! notice; a process that died while sending leaves a claim that expires (at once when its
//! host sees it is gone).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Backend, Store, StoreError, at, ms};
use crate::core::alert_lifecycle::{AlertRecord, AlertState, ChannelMark, Notice, Policy, Route, Subject};
use crate::core::report::Report;
use crate::store::state_file;

/// A lock key for PostgreSQL's advisory lock that serialises observations ("dwalerts").
const OBSERVE_LOCK: i64 = 0x6477_616c_6572_7473;

impl Store {
    /// Records what `report` saw in the alert state (see [`AlertState::observe_quiet`]), after
    /// forgetting what [`AlertState::prune`] says is done, and returns the state. One write
    /// transaction (serialised across replicas on PostgreSQL), so two processes never interleave.
    pub async fn update_alerts(
        &self,
        report: &Report,
        quiet: &BTreeSet<String>,
        routes: &[Route<'_>],
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<AlertState, StoreError> {
        let mut tx = self.write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(OBSERVE_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.write_error(&e))?;
        }
        let before = self.load_state(&mut tx).await?;
        let mut state = before.clone();
        state.prune(routes, policy);
        state.observe_quiet(report, now, quiet);
        let ignored: BTreeSet<&str> = report.ignored.iter().map(|i| i.finding.fingerprint.as_str()).collect();
        let w = |e: sqlx::Error| self.write_error(&e);
        forget_removed(&mut tx, &before, &state, &ignored, now)
            .await
            .map_err(w)?;
        self.write_changed(&mut tx, &before, &state).await?;
        tx.commit().await.map_err(w)?;
        Ok(state)
    }

    /// Writes the alerts of `state` that differ from `before`: a reopened alert starts a new
    /// episode with nothing told; an alert that resolved ends its episode.
    async fn write_changed(
        &self,
        tx: &mut Transaction,
        before: &AlertState,
        state: &AlertState,
    ) -> Result<(), StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        for (fingerprint, new) in &state.alerts {
            let old = before.alerts.get(fingerprint);
            if old == Some(new) {
                continue;
            }
            let reopened = old.is_some_and(|o| o.first_seen != new.first_seen);
            if reopened {
                // A new episode starts with nothing told.
                sqlx::query("DELETE FROM alert_deliveries WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .execute(&mut **tx)
                    .await
                    .map_err(w)?;
            }
            let subject = serde_json::to_string(&new.subject).map_err(|e| self.write_error(&e))?;
            sqlx::query(
                "INSERT INTO alerts (fingerprint, subject, first_seen, last_seen, resolved_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (fingerprint) DO UPDATE SET subject = excluded.subject, first_seen = excluded.first_seen,
                 last_seen = excluded.last_seen, resolved_at = excluded.resolved_at",
            )
            .bind(fingerprint)
            .bind(subject)
            .bind(ms(new.first_seen))
            .bind(ms(new.last_seen))
            .bind(new.resolved_at.map(ms))
            .execute(&mut **tx)
            .await
            .map_err(w)?;
            if old.is_none() || reopened {
                start_episode(tx, fingerprint, new).await.map_err(w)?;
            }
            if let Some(resolved) = new.resolved_at
                && old.is_none_or(|o| o.resolved_at.is_none())
            {
                end_episode(tx, fingerprint, new.first_seen, resolved, "resolved")
                    .await
                    .map_err(w)?;
            }
        }
        Ok(())
    }

    /// When each open alert was first seen, by fingerprint (for the status page).
    pub async fn first_seen(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let rows = sqlx::query("SELECT fingerprint, first_seen FROM alerts WHERE resolved_at IS NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(r)?;
        rows.into_iter()
            .map(|row| Ok((row.try_get(0).map_err(r)?, at(row.try_get(1).map_err(r)?))))
            .collect()
    }

    async fn load_state(&self, tx: &mut Transaction) -> Result<AlertState, StoreError> {
        let r = |e: sqlx::Error| self.read_error(&e);
        let mut state = AlertState::default();
        let rows = sqlx::query("SELECT fingerprint, subject, first_seen, last_seen, resolved_at FROM alerts")
            .fetch_all(&mut **tx)
            .await
            .map_err(r)?;
        for row in rows {
            let fingerprint: String = row.try_get(0).map_err(r)?;
            let subject: String = row.try_get(1).map_err(r)?;
            let subject: Subject =
                serde_json::from_str(&subject).map_err(|e| self.read_error(&format!("alert {fingerprint}: {e}")))?;
            let record = AlertRecord {
                subject,
                first_seen: at(row.try_get(2).map_err(r)?),
                last_seen: at(row.try_get(3).map_err(r)?),
                resolved_at: row.try_get::<Option<i64>, _>(4).map_err(r)?.map(at),
                channels: BTreeMap::new(),
            };
            state.alerts.insert(fingerprint, record);
        }
        let rows = sqlx::query("SELECT fingerprint, channel, notified_at, resolved_notified FROM alert_deliveries")
            .fetch_all(&mut **tx)
            .await
            .map_err(r)?;
        for row in rows {
            let fingerprint: String = row.try_get(0).map_err(r)?;
            let Some(record) = state.alerts.get_mut(&fingerprint) else {
                continue;
            };
            let mark = ChannelMark {
                notified_at: row.try_get::<Option<i64>, _>(2).map_err(r)?.map(at),
                resolved_notified: row.try_get::<i64, _>(3).map_err(r)? != 0,
            };
            // Rows created by a claim that was never delivered tell nothing.
            if mark != ChannelMark::default() {
                record.channels.insert(row.try_get(1).map_err(r)?, mark);
            }
        }
        Ok(state)
    }

    /// Of `notices` (owed to `route`'s channel when the state was observed), the ones this
    /// process may send now: still owed under the row's lock, and not being sent by another
    /// live process. They are claimed until `now + lease`; [`Self::delivered`] or
    /// [`Self::release`] ends the claim.
    pub async fn claim(
        &self,
        route: &Route<'_>,
        notices: &[Notice],
        policy: Policy,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Notice>, StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let mut tx = self.write().await?;
        let mut claimed = Vec::new();
        let until = ms(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        for n in notices {
            sqlx::query(
                "INSERT INTO alert_deliveries (fingerprint, channel, resolved_notified) VALUES ($1, $2, 0)
                 ON CONFLICT (fingerprint, channel) DO NOTHING",
            )
            .bind(&n.fingerprint)
            .bind(route.channel)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
            let sql = format!(
                "SELECT notified_at, resolved_notified, claimed_by, claimed_until FROM alert_deliveries
                 WHERE fingerprint = $1 AND channel = $2{}",
                self.for_update()
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&n.fingerprint)
                .bind(route.channel)
                .fetch_one(&mut *tx)
                .await
                .map_err(w)?;
            let mark = ChannelMark {
                notified_at: row.try_get::<Option<i64>, _>(0).map_err(w)?.map(at),
                resolved_notified: row.try_get::<i64, _>(1).map_err(w)? != 0,
            };
            let claimed_by: Option<String> = row.try_get(2).map_err(w)?;
            let claimed_until: Option<i64> = row.try_get(3).map_err(w)?;
            let busy = match (claimed_by, claimed_until) {
                (Some(by), Some(until)) => by != self.owner && until > ms(now) && !holder_gone(&by, &self.owner),
                _ => false,
            };
            let alert = sqlx::query("SELECT first_seen, resolved_at FROM alerts WHERE fingerprint = $1")
                .bind(&n.fingerprint)
                .fetch_optional(&mut *tx)
                .await
                .map_err(w)?;
            let Some(alert) = alert else { continue };
            let record = AlertRecord {
                subject: n.subject.clone(),
                first_seen: at(alert.try_get(0).map_err(w)?),
                last_seen: now,
                resolved_at: alert.try_get::<Option<i64>, _>(1).map_err(w)?.map(at),
                channels: BTreeMap::from([(route.channel.to_string(), mark)]),
            };
            // Owed the same notice still: the same episode, and nobody told the channel since.
            let single = AlertState {
                alerts: BTreeMap::from([(n.fingerprint.clone(), record)]),
                ..AlertState::default()
            };
            let owed = single
                .due(std::slice::from_ref(route), policy, now)
                .remove(route.channel)
                .and_then(|mut v| v.pop())
                .is_some_and(|owed| owed.event == n.event && owed.first_seen == n.first_seen);
            if busy || !owed {
                continue;
            }
            sqlx::query(
                "UPDATE alert_deliveries SET claimed_by = $1, claimed_until = $2 WHERE fingerprint = $3 AND channel = $4",
            )
            .bind(&self.owner)
            .bind(until)
            .bind(&n.fingerprint)
            .bind(route.channel)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
            claimed.push(n.clone());
        }
        tx.commit().await.map_err(w)?;
        Ok(claimed)
    }

    /// Records that `channel` took `notices`, in one transaction, and ends their claims.
    pub async fn delivered(&self, channel: &str, notices: &[Notice], now: DateTime<Utc>) -> Result<(), StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let mut tx = self.write().await?;
        for n in notices {
            // A resolved notice marks the episode told; a firing or reminder notice when.
            let (sql, stamp) = match n.event {
                crate::core::alert_lifecycle::Event::Resolved => (
                    "UPDATE alert_deliveries SET resolved_notified = 1, claimed_by = NULL, claimed_until = NULL
                     WHERE fingerprint = $1 AND channel = $2",
                    None,
                ),
                _ => (
                    "UPDATE alert_deliveries SET notified_at = $3, claimed_by = NULL, claimed_until = NULL
                     WHERE fingerprint = $1 AND channel = $2",
                    Some(ms(now)),
                ),
            };
            let mut query = sqlx::query(sql).bind(&n.fingerprint).bind(channel);
            if let Some(at) = stamp {
                query = query.bind(at);
            }
            query.execute(&mut *tx).await.map_err(w)?;
        }
        tx.commit().await.map_err(w)
    }

    /// Ends this process's claims on `notices` without a delivery: they are owed again.
    pub async fn release(&self, channel: &str, notices: &[Notice]) -> Result<(), StoreError> {
        let w = |e: sqlx::Error| self.write_error(&e);
        let mut tx = self.write().await?;
        for n in notices {
            sqlx::query(
                "UPDATE alert_deliveries SET claimed_by = NULL, claimed_until = NULL
                 WHERE fingerprint = $1 AND channel = $2 AND claimed_by = $3",
            )
            .bind(&n.fingerprint)
            .bind(channel)
            .bind(&self.owner)
            .execute(&mut *tx)
            .await
            .map_err(w)?;
        }
        tx.commit().await.map_err(w)
    }

    /// Moves a `[state]` JSON file from before the store into it, once: its alerts (and what
    /// each channel was told) are added where the store does not know them yet, and the file
    /// is renamed `<file>.migrated`. Returns what happened, for the log; `None` without a file.
    pub async fn import_state_file(&self, path: &Path, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let loaded = state_file::load(path, now).map_err(|e| self.read_error(&e))?;
        let mut notes: Vec<String> = loaded.warning.into_iter().collect();
        let w = |e: sqlx::Error| self.write_error(&e);
        let mut tx = self.write().await?;
        let mut added = 0;
        for (fingerprint, record) in &loaded.state.alerts {
            let subject = serde_json::to_string(&record.subject).map_err(|e| self.write_error(&e))?;
            let inserted = sqlx::query(
                "INSERT INTO alerts (fingerprint, subject, first_seen, last_seen, resolved_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(fingerprint)
            .bind(subject)
            .bind(ms(record.first_seen))
            .bind(ms(record.last_seen))
            .bind(record.resolved_at.map(ms))
            .execute(&mut *tx)
            .await
            .map_err(w)?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            added += 1;
            for (channel, mark) in &record.channels {
                sqlx::query(
                    "INSERT INTO alert_deliveries (fingerprint, channel, notified_at, resolved_notified) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (fingerprint, channel) DO NOTHING",
                )
                .bind(fingerprint)
                .bind(channel)
                .bind(mark.notified_at.map(ms))
                .bind(i64::from(mark.resolved_notified))
                .execute(&mut *tx)
                .await
                .map_err(w)?;
            }
            start_episode(&mut tx, fingerprint, record).await.map_err(w)?;
            if let Some(resolved) = record.resolved_at {
                end_episode(&mut tx, fingerprint, record.first_seen, resolved, "resolved")
                    .await
                    .map_err(w)?;
            }
        }
        tx.commit().await.map_err(w)?;
        if !path.exists() {
            // It was corrupt and moved aside (the warning says where): nothing to keep.
            return Ok(Some(notes.join("; ")));
        }
        let migrated = format!("{}.migrated", path.display());
        std::fs::rename(path, &migrated).map_err(|e| {
            self.write_error(&format!(
                "imported {}, but cannot rename it to {migrated}: {e}",
                path.display()
            ))
        })?;
        notes.insert(
            0,
            format!(
                "moved the alert state file {} into the store {} ({added} alerts); kept it as {migrated}",
                path.display(),
                self.name
            ),
        );
        Ok(Some(notes.join("; ")))
    }
}

type Transaction = sqlx::Transaction<'static, sqlx::Any>;

/// Opens a drift episode for a finding (audit errors are not drift).
async fn start_episode(tx: &mut Transaction, fingerprint: &str, record: &AlertRecord) -> Result<(), sqlx::Error> {
    let Subject::Finding(f) = &record.subject else {
        return Ok(());
    };
    let workload = match (&f.namespace, f.workload_kind, &f.name) {
        (ns, Some(kind), Some(name)) => Some(format!("{ns}/{kind}/{name}")),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO drift_episodes (fingerprint, first_seen, environment, workload, container, finding_type, severity)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (fingerprint, first_seen) DO NOTHING",
    )
    .bind(fingerprint)
    .bind(ms(record.first_seen))
    .bind(&f.environment)
    .bind(workload)
    .bind(f.container.clone())
    .bind(f.kind.as_str())
    .bind(f.severity.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn end_episode(
    tx: &mut Transaction,
    fingerprint: &str,
    first_seen: DateTime<Utc>,
    ended: DateTime<Utc>,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE drift_episodes SET resolved_at = $1, ended_by = $2
         WHERE fingerprint = $3 AND first_seen = $4 AND resolved_at IS NULL",
    )
    .bind(ms(ended))
    .bind(by)
    .bind(fingerprint)
    .bind(ms(first_seen))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Whether the process named in a claim (`host/pid/uuid`) is known to be gone: it ran on this
/// host and either its pid is ours now (an earlier process of a restarted container) or no
/// process has its pid. On another host only the claim's expiry tells.
fn holder_gone(holder: &str, me: &str) -> bool {
    let parse = |s: &str| {
        let mut it = s.rsplitn(3, '/');
        let uuid = it.next()?.to_string();
        let pid: i32 = it.next()?.parse().ok()?;
        Some((it.next()?.to_string(), pid, uuid))
    };
    let (Some((host, pid, uuid)), Some((my_host, my_pid, my_uuid))) = (parse(holder), parse(me)) else {
        return false;
    };
    if host != my_host {
        return false;
    }
    if pid == my_pid {
        return uuid != my_uuid;
    }
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH),
        None => true,
    }
}

/// Deletes what `state` no longer holds of `before`: alerts pruned (their deliveries too, and a
/// drift episode the ignore file ended), and deliveries to channels an alert no longer routes to.
async fn forget_removed(
    tx: &mut Transaction,
    before: &AlertState,
    state: &AlertState,
    ignored: &BTreeSet<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (fingerprint, old) in &before.alerts {
        match state.alerts.get(fingerprint) {
            None => {
                sqlx::query("DELETE FROM alerts WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM alert_deliveries WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .execute(&mut **tx)
                    .await?;
                if old.resolved_at.is_none() && ignored.contains(fingerprint.as_str()) {
                    end_episode(tx, fingerprint, old.first_seen, now, "ignored").await?;
                }
            }
            Some(new) => {
                for channel in old.channels.keys().filter(|c| !new.channels.contains_key(*c)) {
                    sqlx::query("DELETE FROM alert_deliveries WHERE fingerprint = $1 AND channel = $2")
                        .bind(fingerprint)
                        .bind(channel)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holder_is_gone_only_when_this_host_can_tell() {
        let me = format!("h1/{}/u-me", std::process::id());
        let cases = [
            ("another host", "h2/1/u".to_string(), false),
            ("this process", me.clone(), false),
            (
                "an earlier process with our pid",
                format!("h1/{}/u-old", std::process::id()),
                true,
            ),
            ("a live process on this host", "h1/1/u".to_string(), false),
            ("a pid nobody has", format!("h1/{}/u", i32::MAX - 7), true),
            ("garbage", "nonsense".to_string(), false),
        ];
        for (name, holder, gone) in cases {
            assert_eq!(holder_gone(&holder, &me), gone, "{name}");
        }
    }
}
