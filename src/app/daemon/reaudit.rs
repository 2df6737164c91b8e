//! The partial re-audit: the plan that re-audits the environments a watched change concerns
//! (`interest`) from the last repository snapshot and the watchers' stores (no fetch, no
//! render), and how its report is merged into the last full picture, with the drift `sync_grace` holds back.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tracing::info;

use super::context::Context;
use super::event_loop::Coverage;
use super::interest::namespaces_of;
use crate::app::audit::{Audited, Plan};
use crate::config::Config;
use crate::core::report::Report;

impl Context {
    /// What an audit of `coverage` reads: a re-audit of some environments reuses the last
    /// snapshot and only their declarations; with nothing to re-audit from yet, a full audit.
    pub fn plan(&self, coverage: &Coverage) -> Plan {
        let memory = self.memory.lock().expect("memory lock");
        match (coverage, &memory.snapshot, &memory.report) {
            (Coverage::Fetched, _, _) => Plan {
                watched: self.watched(),
                ..Plan::default()
            },
            (Coverage::Environments(envs), Some(snapshot), Some(_)) => Plan {
                only: envs.iter().cloned().collect(),
                reuse: Some(snapshot.clone()),
                watched: self.watched(),
                // Only what this re-audit needs: copies of a fleet's declarations add up.
                declared: memory
                    .declared
                    .iter()
                    .filter(|(env, _)| envs.contains(*env))
                    .map(|(env, d)| (env.clone(), d.clone()))
                    .collect(),
            },
            _ => Plan::default(),
        }
    }

    /// Keeps what later audits need from `audited` and returns the full picture (a partial
    /// audit merged into the last one) with the findings `sync_grace` holds back; tells the
    /// event loop when the next hold ends.
    pub fn remember(
        &self,
        cfg: &Config,
        audited: Audited,
        partial: bool,
        now: DateTime<Utc>,
    ) -> (Report, BTreeSet<String>) {
        let mut memory = self.memory.lock().expect("memory lock");
        for (env, declared) in audited.declared.iter() {
            memory
                .settling
                .record_declared(env, &declared.state.workloads, &declared.state.configs, now);
        }
        let report = match (&memory.report, partial) {
            (Some(last), true) => last.merged(&audited.report),
            _ => audited.report,
        };
        if let Some(snapshot) = audited.snapshot {
            // A partial audit re-read the remembered snapshot: its environments' declarations
            // stay valid. A full audit read a new one: only its declarations are.
            if !partial {
                memory.declared.clear();
            }
            memory.snapshot = Some(snapshot);
            memory.declared.extend(audited.declared);
            memory.namespaces = memory
                .declared
                .iter()
                .map(|(env, d)| (env.clone(), namespaces_of(d)))
                .collect();
        }
        let (quiet, next) = memory.settling.quiet(&report.findings, now, cfg.audit.sync_grace);
        if !quiet.is_empty() {
            info!(
                held = quiet.len(),
                until = %next.map(|t| t.to_rfc3339()).unwrap_or_default(),
                "drift on what a new commit changed is held back while the cluster follows (sync_grace)"
            );
        }
        self.hold_ends.send_replace(next);
        memory.report = Some(report.clone());
        (report, quiet)
    }
}
