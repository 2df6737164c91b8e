//! Alert lifecycle, per fingerprint and per channel: a finding (or an environment's audit error)
//! is notified once when it appears, again only after `renotify_after` while it persists, and
//! once when it is resolved. Delivery is recorded per channel only after it succeeded, so a
//! channel that was down is owed the same notice on the next run: nothing is lost, nothing is
//! sent twice. Pure: [`crate::store::alerts`] loads and saves it, [`crate::app::deliver`] delivers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::core::model::{Finding, Severity};
use crate::core::report::{Report, Status};

pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub version: u32,
    pub alerts: BTreeMap<String, AlertRecord>,
}

impl Default for AlertState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            alerts: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub subject: Subject,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// What each channel has been told, by channel name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelMark>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMark {
    /// Last successful firing or reminder notice.
    pub notified_at: Option<DateTime<Utc>>,
    pub resolved_notified: bool,
}

/// What an alert is about.
// A run holds a few hundred of these at most; boxing the finding would buy nothing but
// indirection in every channel's match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Finding(Finding),
    /// An environment that could not be audited (repository, cluster or render failure). One
    /// alert per environment, whatever the error text, so an outage is one alert and one recovery.
    AuditError {
        environment: String,
        cluster: String,
        error: String,
    },
}

impl Subject {
    pub fn environment(&self) -> &str {
        match self {
            Self::Finding(f) => &f.environment,
            Self::AuditError { environment, .. } => environment,
        }
    }

    /// Audit errors are warnings: they say the audit is blind, not that production drifted.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Finding(f) => f.severity,
            Self::AuditError { .. } => Severity::Warning,
        }
    }

    /// `digest-drift` or `audit-error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Finding(f) => f.kind.as_str(),
            Self::AuditError { .. } => "audit-error",
        }
    }
}

/// The fingerprint of an environment's audit-error alert.
pub fn audit_error_fingerprint(environment: &str) -> String {
    let hex = format!("{:x}", Sha256::digest(format!("audit-error\0{environment}").as_bytes()));
    hex[..16].to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// First notice of an alert on this channel.
    Firing,
    /// Still there after `renotify_after`.
    Reminder,
    Resolved,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Reminder => "reminder",
            Self::Resolved => "resolved",
        }
    }
}

/// One thing to tell one channel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
    pub event: Event,
    pub fingerprint: String,
    pub subject: Subject,
    pub first_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which alerts a channel wants.
#[derive(Clone, Copy, Debug)]
pub struct Route<'a> {
    pub channel: &'a str,
    /// `None`: every environment.
    pub environments: Option<&'a [String]>,
    pub min_severity: Severity,
    /// Re-send every firing alert on every run (Alertmanager, which de-duplicates itself and
    /// expires alerts that are not re-sent), instead of only after `renotify_after`.
    pub every_run: bool,
}

impl Route<'_> {
    fn wants(&self, subject: &Subject) -> bool {
        let env_ok = self
            .environments
            .is_none_or(|list| list.iter().any(|e| e == subject.environment()));
        env_ok && subject.severity() >= self.min_severity
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub renotify_after: Duration,
    pub send_resolved: bool,
}

impl AlertState {
    /// Records what an audit saw. Alerts of environments that were audited without error and
    /// no longer show them are resolved; an environment that errored, is incomplete (part of
    /// what git declares could not be read) or was not audited this run resolves nothing, since
    /// its findings were not all observed.
    pub fn observe(&mut self, report: &Report, now: DateTime<Utc>) {
        self.observe_quiet(report, now, &BTreeSet::new());
    }

    /// [`Self::observe`], holding back the findings in `quiet` (drift on a workload whose
    /// declaration just changed, while the cluster is given time to follow): one that is not
    /// alerted yet is not recorded (no alert now; it is, if it persists past the grace), one
    /// already alerted stays open (no "resolved" notice for a drift that did not go away).
    pub fn observe_quiet(&mut self, report: &Report, now: DateTime<Utc>, quiet: &BTreeSet<String>) {
        let mut current: BTreeMap<String, Subject> = BTreeMap::new();
        for f in &report.findings {
            let open = self.alerts.get(&f.fingerprint).is_some_and(|r| r.resolved_at.is_none());
            if quiet.contains(&f.fingerprint) && !open {
                continue;
            }
            current.insert(f.fingerprint.clone(), Subject::Finding(f.clone()));
        }
        for e in report.environments.iter().filter(|e| e.status == Status::Error) {
            let subject = Subject::AuditError {
                environment: e.name.clone(),
                cluster: e.cluster.clone(),
                error: e.error().unwrap_or_default(),
            };
            current.insert(audit_error_fingerprint(&e.name), subject);
        }
        // An alert whose finding is now ignored is dropped without a "resolved" notice: it did
        // not go away, someone accepted it.
        for i in &report.ignored {
            self.alerts.remove(&i.finding.fingerprint);
        }
        let observed_ok: BTreeSet<&str> = report
            .environments
            .iter()
            .filter(|e| e.status == Status::Ok)
            .map(|e| e.name.as_str())
            .chain(report.retired.iter().map(String::as_str))
            .collect();

        for (fingerprint, subject) in current {
            match self.alerts.get_mut(&fingerprint) {
                Some(r) if r.resolved_at.is_none() => {
                    r.last_seen = now;
                    r.subject = subject;
                }
                // New, or back after it was resolved: a new episode with its own notices.
                _ => {
                    let record = AlertRecord {
                        subject,
                        first_seen: now,
                        last_seen: now,
                        resolved_at: None,
                        channels: BTreeMap::new(),
                    };
                    self.alerts.insert(fingerprint, record);
                }
            }
        }
        for r in self.alerts.values_mut() {
            if r.resolved_at.is_none() && r.last_seen < now && observed_ok.contains(r.subject.environment()) {
                r.resolved_at = Some(now);
            }
        }
    }

    /// The notices each channel is owed now, by channel name (channels owed nothing are absent).
    pub fn due(&self, routes: &[Route<'_>], policy: Policy, now: DateTime<Utc>) -> BTreeMap<String, Vec<Notice>> {
        let mut out: BTreeMap<String, Vec<Notice>> = BTreeMap::new();
        for (fingerprint, r) in &self.alerts {
            for route in routes.iter().filter(|route| route.wants(&r.subject)) {
                let mark = r.channels.get(route.channel).cloned().unwrap_or_default();
                let event = match (r.resolved_at, mark.notified_at) {
                    (None, None) => Some(Event::Firing),
                    (None, Some(_)) if route.every_run => Some(Event::Reminder),
                    (None, Some(at)) if elapsed(at, now) >= policy.renotify_after => Some(Event::Reminder),
                    (Some(_), Some(_)) if policy.send_resolved && !mark.resolved_notified => Some(Event::Resolved),
                    _ => None,
                };
                if let Some(event) = event {
                    out.entry(route.channel.to_string()).or_default().push(Notice {
                        event,
                        fingerprint: fingerprint.clone(),
                        subject: r.subject.clone(),
                        first_seen: r.first_seen,
                        resolved_at: r.resolved_at,
                    });
                }
            }
        }
        for notices in out.values_mut() {
            notices.sort_by(|a, b| {
                (
                    a.subject.environment(),
                    a.event,
                    std::cmp::Reverse(a.subject.severity()),
                    &a.fingerprint,
                )
                    .cmp(&(
                        b.subject.environment(),
                        b.event,
                        std::cmp::Reverse(b.subject.severity()),
                        &b.fingerprint,
                    ))
            });
        }
        out
    }

    /// Records that `channel` received `notices`.
    pub fn delivered(&mut self, channel: &str, notices: &[Notice], now: DateTime<Utc>) {
        for n in notices {
            let Some(r) = self.alerts.get_mut(&n.fingerprint) else {
                continue;
            };
            let mark = r.channels.entry(channel.to_string()).or_default();
            match n.event {
                Event::Firing | Event::Reminder => mark.notified_at = Some(now),
                Event::Resolved => mark.resolved_notified = true,
            }
        }
    }

    /// Forgets channels no longer configured, and resolved alerts that no channel is still owed
    /// a notice for.
    pub fn prune(&mut self, routes: &[Route<'_>], policy: Policy) {
        self.alerts.retain(|_, r| {
            r.channels
                .retain(|name, _| routes.iter().any(|route| route.channel == name));
            if r.resolved_at.is_none() {
                return true;
            }
            policy.send_resolved
                && r.channels.iter().any(|(name, mark)| {
                    let wanted = routes
                        .iter()
                        .any(|route| route.channel == name && route.wants(&r.subject));
                    wanted && mark.notified_at.is_some() && !mark.resolved_notified
                })
        });
    }
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    now.signed_duration_since(since).to_std().unwrap_or_default()
}

/// "since 2026-11-25 14:02 UTC, 19h": when an alert started and how long it has lasted.
pub fn since(first_seen: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "since {}, {}",
        first_seen.format("%Y-%m-%d %H:%M UTC"),
        age(elapsed(first_seen, now))
    )
}

/// `3d 4h`, `19h`, `45m`, `<1m`.
pub fn age(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    let (days, hours, mins) = (mins / 1440, (mins / 60) % 24, mins % 60);
    match (days, hours, mins) {
        (0, 0, 0) => "<1m".into(),
        (0, 0, m) => format!("{m}m"),
        (0, h, _) => format!("{h}h"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::FindingType;
    use crate::core::report::{EnvironmentResult, GitopsInfo};
    use chrono::TimeZone;

    const HOUR: Duration = Duration::from_secs(3600);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 14, 2, 0).unwrap()
    }

    fn finding(env: &str, name: &str, severity: Severity) -> Finding {
        Finding::sample(env, name, FindingType::DigestDrift, severity)
    }

    fn report(envs: &[(&str, Option<&str>)], findings: Vec<Finding>) -> Report {
        let environments = envs
            .iter()
            .map(|(name, err)| EnvironmentResult {
                name: name.to_string(),
                cluster: "c".into(),
                status: if err.is_some() { Status::Error } else { Status::Ok },
                errors: err.map(str::to_string).into_iter().collect(),
                incomplete: Vec::new(),
                declared_workloads: 0,
                live_workloads: 0,
                declared: Vec::new(),
                paths: Vec::new(),
                releases: Vec::new(),
                runs: Vec::new(),
            })
            .collect();
        Report::new(
            t0(),
            t0(),
            GitopsInfo {
                url: "u".into(),
                commit: None,
            },
            environments,
            findings,
        )
    }

    const POLICY: Policy = Policy {
        renotify_after: Duration::from_secs(24 * 3600),
        send_resolved: true,
    };

    fn route(channel: &str) -> Route<'_> {
        Route {
            channel,
            environments: None,
            min_severity: Severity::Info,
            every_run: false,
        }
    }

    /// One run: observe, deliver everything due on every channel, prune. Returns (channel, event, name).
    fn run(
        state: &mut AlertState,
        r: &Report,
        routes: &[Route<'_>],
        now: DateTime<Utc>,
        down: &[&str],
    ) -> Vec<(String, Event, String)> {
        state.observe(r, now);
        let due = state.due(routes, POLICY, now);
        let mut sent = Vec::new();
        for (channel, notices) in &due {
            if down.contains(&channel.as_str()) {
                continue;
            }
            state.delivered(channel, notices, now);
            for n in notices {
                let name = match &n.subject {
                    Subject::Finding(f) => f.name.clone().unwrap_or_default(),
                    Subject::AuditError { environment, .. } => format!("error:{environment}"),
                };
                sent.push((channel.clone(), n.event, name));
            }
        }
        state.prune(routes, POLICY);
        sent
    }

    fn ev(channel: &str, event: Event, name: &str) -> (String, Event, String) {
        (channel.into(), event, name.into())
    }

    /// A finding held back while the cluster follows a new commit is not alerted (nor recorded,
    /// so it alerts when the grace is over); one already alerted stays open, so no "resolved"
    /// notice goes out for a drift that did not go away.
    #[test]
    fn quiet_findings_are_not_alerted_and_open_alerts_stay_open() {
        let routes = [route("slack")];
        let (old, new) = (
            finding("production", "api", Severity::Critical),
            finding("production", "web", Severity::Critical),
        );
        let mut state = AlertState::default();
        assert_eq!(
            run(
                &mut state,
                &report(&[("production", None)], vec![old.clone()]),
                &routes,
                t0(),
                &[]
            )
            .len(),
            1
        );

        let quiet: BTreeSet<String> = [old.fingerprint.clone(), new.fingerprint.clone()].into();
        let later = t0() + HOUR;
        state.observe_quiet(
            &report(&[("production", None)], vec![old.clone(), new.clone()]),
            later,
            &quiet,
        );
        assert!(
            state.due(&routes, POLICY, later).is_empty(),
            "nothing new to send, nothing resolved"
        );
        assert!(state.alerts[&old.fingerprint].resolved_at.is_none());
        assert!(!state.alerts.contains_key(&new.fingerprint));

        // The grace is over and the drift persists: now it alerts.
        let sent = run(
            &mut state,
            &report(&[("production", None)], vec![old, new]),
            &routes,
            later + HOUR,
            &[],
        );
        assert_eq!(sent, vec![("slack".to_string(), Event::Firing, "web".to_string())]);
    }

    #[test]
    fn one_alert_when_drift_appears_none_while_it_persists_one_when_resolved() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        let drift = report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]);
        assert_eq!(
            run(&mut s, &drift, &routes, t0(), &[]),
            vec![ev("slack", Event::Firing, "api")]
        );
        for h in 1..=3 {
            assert_eq!(run(&mut s, &drift, &routes, t0() + HOUR * h, &[]), vec![], "run {h}");
        }
        let clean = report(&[("prod", None)], vec![]);
        assert_eq!(
            run(&mut s, &clean, &routes, t0() + HOUR * 4, &[]),
            vec![ev("slack", Event::Resolved, "api")]
        );
        assert!(s.alerts.is_empty(), "resolved and delivered: forgotten");
        assert_eq!(run(&mut s, &clean, &routes, t0() + HOUR * 5, &[]), vec![]);
    }

    #[test]
    fn reminder_only_after_renotify_interval() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        let drift = report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]);
        run(&mut s, &drift, &routes, t0(), &[]);
        assert_eq!(run(&mut s, &drift, &routes, t0() + HOUR * 23, &[]), vec![]);
        assert_eq!(
            run(&mut s, &drift, &routes, t0() + HOUR * 24, &[]),
            vec![ev("slack", Event::Reminder, "api")]
        );
        assert_eq!(run(&mut s, &drift, &routes, t0() + HOUR * 25, &[]), vec![]);
    }

    #[test]
    fn a_channel_that_was_down_is_owed_the_notice_and_the_others_are_not_repeated() {
        let mut s = AlertState::default();
        let routes = [route("slack"), route("email")];
        let drift = report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]);
        assert_eq!(
            run(&mut s, &drift, &routes, t0(), &["email"]),
            vec![ev("slack", Event::Firing, "api")]
        );
        assert_eq!(
            run(&mut s, &drift, &routes, t0() + HOUR, &[]),
            vec![ev("email", Event::Firing, "api")]
        );
        // Resolved while email is down: email is owed the resolved notice until it gets it.
        let clean = report(&[("prod", None)], vec![]);
        assert_eq!(
            run(&mut s, &clean, &routes, t0() + HOUR * 2, &["email"]),
            vec![ev("slack", Event::Resolved, "api")]
        );
        assert_eq!(s.alerts.len(), 1);
        assert_eq!(
            run(&mut s, &clean, &routes, t0() + HOUR * 3, &[]),
            vec![ev("email", Event::Resolved, "api")]
        );
        assert!(s.alerts.is_empty());
    }

    #[test]
    fn audit_errors_are_one_alert_per_outage_and_hide_nothing() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        let drift = report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]);
        run(&mut s, &drift, &routes, t0(), &[]);
        // The cluster goes away: one audit-error alert; the drift is not "resolved" meanwhile.
        let down = |msg: &str| report(&[("prod", Some(msg))], vec![]);
        assert_eq!(
            run(&mut s, &down("timeout a"), &routes, t0() + HOUR, &[]),
            vec![ev("slack", Event::Firing, "error:prod")]
        );
        assert_eq!(
            run(&mut s, &down("timeout b"), &routes, t0() + HOUR * 2, &[]),
            vec![],
            "new error text, same alert"
        );
        assert_eq!(
            run(&mut s, &drift, &routes, t0() + HOUR * 3, &[]),
            vec![ev("slack", Event::Resolved, "error:prod")]
        );
    }

    #[test]
    fn environments_not_audited_this_run_resolve_nothing() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        run(
            &mut s,
            &report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]),
            &routes,
            t0(),
            &[],
        );
        assert_eq!(
            run(&mut s, &report(&[("staging", None)], vec![]), &routes, t0() + HOUR, &[]),
            vec![]
        );
        assert_eq!(s.alerts.len(), 1);
    }

    #[test]
    fn a_retired_environment_resolves_its_alerts() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        run(
            &mut s,
            &report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]),
            &routes,
            t0(),
            &[],
        );
        let mut gone = report(&[("staging", None)], vec![]);
        gone.retired = vec!["prod".into()];
        let notices = run(&mut s, &gone, &routes, t0() + HOUR, &[]);
        assert_eq!(notices.len(), 1, "one notice: {notices:?}");
        assert_eq!(notices[0].1, Event::Resolved);
        assert!(s.alerts.values().all(|r| r.resolved_at.is_some()));
    }

    #[test]
    fn routing_by_environment_and_severity() {
        let mut s = AlertState::default();
        let prod = ["prod".to_string()];
        let routes = [
            Route {
                channel: "oncall",
                environments: Some(&prod),
                min_severity: Severity::Critical,
                every_run: false,
            },
            Route {
                channel: "team",
                environments: None,
                min_severity: Severity::Warning,
                every_run: false,
            },
        ];
        let r = report(
            &[("prod", None), ("staging", None)],
            vec![
                finding("prod", "api", Severity::Critical),
                finding("prod", "web", Severity::Warning),
                finding("staging", "api", Severity::Critical),
                finding("staging", "x", Severity::Info),
            ],
        );
        let mut sent = run(&mut s, &r, &routes, t0(), &[]);
        sent.sort();
        assert_eq!(
            sent,
            vec![
                ev("oncall", Event::Firing, "api"),
                ev("team", Event::Firing, "api"),
                ev("team", Event::Firing, "api"),
                ev("team", Event::Firing, "web")
            ]
        );
    }

    #[test]
    fn every_run_channels_get_firing_alerts_each_run() {
        let mut s = AlertState::default();
        let routes = [Route {
            channel: "am",
            environments: None,
            min_severity: Severity::Info,
            every_run: true,
        }];
        let drift = report(&[("prod", None)], vec![finding("prod", "api", Severity::Critical)]);
        run(&mut s, &drift, &routes, t0(), &[]);
        assert_eq!(
            run(&mut s, &drift, &routes, t0() + HOUR, &[]),
            vec![ev("am", Event::Reminder, "api")]
        );
    }

    #[test]
    fn an_ignored_finding_is_silenced_without_a_resolved_notice() {
        let mut s = AlertState::default();
        let routes = [route("slack")];
        let f = finding("prod", "api", Severity::Critical);
        run(&mut s, &report(&[("prod", None)], vec![f.clone()]), &routes, t0(), &[]);
        let mut accepted = report(&[("prod", None)], vec![]);
        accepted.ignored.push(crate::core::ignore::Ignored {
            finding: f,
            reason: "canary".into(),
            expires: None,
        });
        assert_eq!(run(&mut s, &accepted, &routes, t0() + HOUR, &[]), vec![]);
        assert!(s.alerts.is_empty());
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut s = AlertState::default();
        run(
            &mut s,
            &report(&[("prod", Some("x"))], vec![finding("prod", "api", Severity::Critical)]),
            &[route("slack")],
            t0(),
            &[],
        );
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<AlertState>(&text).unwrap(), s);
    }

    #[test]
    fn ages() {
        assert_eq!(since(t0(), t0() + HOUR * 19), "since 2026-11-25 14:02 UTC, 19h");
        let cases = [
            (30, "<1m"),
            (45 * 60, "45m"),
            (3 * 3600 + 60, "3h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 5 * 3600, "2d 5h"),
        ];
        for (secs, want) in cases {
            assert_eq!(age(Duration::from_secs(secs)), want);
        }
    }
}
