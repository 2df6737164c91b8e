//! `sync_grace`: a normal GitOps rollout never alerts. When a commit changes what an
//! environment declares for a workload (or a ConfigMap/Secret), the cluster gets `sync_grace` to
//! follow (Argo CD or Flux syncing, then the rollout) before drift on it is alerted; a change on
//! the live side while git is unchanged alerts at once. Pure: the daemon feeds it what each audit
//! declared and asks which findings to hold back and when the next hold ends.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::model::{ConfigObject, DeclaredWorkload, Finding, FindingType};

/// What one environment declared for one object, and since when (as this process saw it).
#[derive(Clone, Debug)]
struct Seen {
    /// The declared containers (or a config's values), as one comparable string.
    what: String,
    /// When it last changed; `None` when it is as this process first saw it.
    changed_at: Option<DateTime<Utc>>,
}

/// Per environment and object (`Kind/namespace/name`), what was declared and when it changed.
#[derive(Debug, Default)]
pub struct Settling {
    seen: BTreeMap<(String, String), Seen>,
    /// Environments observed at least once: the first observation is the baseline, not a change.
    known: BTreeSet<String>,
}

/// The finding types that are drift on a workload (or config) the cluster is still catching up
/// with. What git alone says (unpinned, invalid manifests, registry and promotion facts) is
/// never held back.
fn settles(kind: FindingType) -> bool {
    matches!(
        kind,
        FindingType::DigestDrift
            | FindingType::SpecDrift
            | FindingType::MixedRollout
            | FindingType::Missing
            | FindingType::Undeclared
            | FindingType::ConfigDrift
    )
}

fn workload_key(w: &DeclaredWorkload) -> String {
    format!("{}/{}/{}", w.kind.as_str(), w.namespace, w.name)
}

fn workload_what(w: &DeclaredWorkload) -> String {
    w.containers
        .iter()
        .map(|c| format!("{}{}={}", if c.init { "init:" } else { "" }, c.name, c.image))
        .collect::<Vec<_>>()
        .join(",")
}

fn config_key(c: &ConfigObject) -> String {
    format!("{}/{}/{}", c.kind(), c.namespace, c.name)
}

fn config_what(c: &ConfigObject) -> String {
    c.values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The objects a finding may be about, as [`Settling`] keys them.
fn finding_keys(f: &Finding) -> Vec<String> {
    let Some(name) = f.name.as_deref() else {
        return Vec::new();
    };
    if f.kind == FindingType::ConfigDrift {
        // config-drift names a ConfigMap or a Secret without saying which in a field.
        return ["ConfigMap", "Secret"]
            .map(|kind| format!("{kind}/{}/{name}", f.namespace))
            .to_vec();
    }
    f.workload_kind
        .map(|k| vec![format!("{}/{}/{name}", k.as_str(), f.namespace)])
        .unwrap_or_default()
}

impl Settling {
    /// Records what `env` declares at `now`. An object whose declaration differs from the last
    /// one seen (or that appeared, or disappeared) changed now; the first observation of an
    /// environment is the baseline.
    pub fn record_declared(
        &mut self,
        env: &str,
        workloads: &[DeclaredWorkload],
        configs: &[ConfigObject],
        now: DateTime<Utc>,
    ) {
        let first = self.known.insert(env.to_string());
        let mut current: BTreeMap<String, String> =
            workloads.iter().map(|w| (workload_key(w), workload_what(w))).collect();
        current.extend(configs.iter().map(|c| (config_key(c), config_what(c))));
        // Objects no longer declared: their removal is a change (the cluster prunes them).
        let gone: Vec<(String, String)> = self
            .seen
            .keys()
            .filter(|(e, key)| e == env && !current.contains_key(key))
            .cloned()
            .collect();
        for k in gone {
            let seen = self.seen.get_mut(&k).expect("listed above");
            if !seen.what.is_empty() {
                seen.what = String::new();
                seen.changed_at = Some(now);
            }
        }
        for (key, what) in current {
            let slot = (env.to_string(), key);
            match self.seen.get_mut(&slot) {
                Some(seen) if seen.what == what => {}
                Some(seen) => {
                    seen.what = what;
                    seen.changed_at = Some(now);
                }
                None => {
                    let changed_at = (!first).then_some(now);
                    self.seen.insert(slot, Seen { what, changed_at });
                }
            }
        }
    }

    /// The fingerprints of `findings` to hold back at `now` (drift on an object whose
    /// declaration changed less than `grace` ago), and when the earliest of those holds ends, so
    /// the daemon can look again exactly then.
    pub fn quiet(
        &self,
        findings: &[Finding],
        now: DateTime<Utc>,
        grace: Duration,
    ) -> (BTreeSet<String>, Option<DateTime<Utc>>) {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut quiet = BTreeSet::new();
        let mut next: Option<DateTime<Utc>> = None;
        for f in findings.iter().filter(|f| settles(f.kind)) {
            let Some(changed_at) = finding_keys(f)
                .into_iter()
                .filter_map(|key| self.seen.get(&(f.environment.clone(), key)).and_then(|s| s.changed_at))
                .max()
            else {
                continue;
            };
            let ends = changed_at + grace;
            if now < ends {
                quiet.insert(f.fingerprint.clone());
                next = Some(next.map_or(ends, |n| n.min(ends)));
            }
        }
        (quiet, next)
    }

    /// Forgets environments no longer configured.
    pub fn retain_environments(&mut self, envs: &BTreeSet<String>) {
        self.seen.retain(|(e, _), _| envs.contains(e));
        self.known.retain(|e| envs.contains(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ContainerSpec, Severity, WorkloadKind};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    fn api(image: &str) -> DeclaredWorkload {
        DeclaredWorkload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: "api".into(),
            source: "apps/api".into(),
            containers: vec![ContainerSpec {
                name: "api".into(),
                image: image.into(),
                init: false,
                invalid: None,
            }],
            helm: None,
        }
    }

    fn drift(kind: FindingType) -> Finding {
        let mut f = Finding::sample("production", "api", kind, Severity::Critical);
        f.namespace = "shop".into();
        f.workload_kind = Some(WorkloadKind::Deployment);
        f
    }

    const GRACE: Duration = Duration::from_secs(600);

    #[test]
    fn a_changed_declaration_holds_drift_back_until_the_grace_ends() {
        let mut s = Settling::default();
        s.record_declared("production", &[api("api@sha256:1")], &[], at(0));
        let f = drift(FindingType::DigestDrift);
        // Live drift while git is unchanged: alerted at once.
        assert_eq!(s.quiet(std::slice::from_ref(&f), at(1), GRACE), (BTreeSet::new(), None));

        // A commit changes the digest at minute 2: quiet until minute 12, and the daemon is told
        // to look again exactly then.
        s.record_declared("production", &[api("api@sha256:2")], &[], at(2));
        let (quiet, next) = s.quiet(std::slice::from_ref(&f), at(5), GRACE);
        assert!(quiet.contains(&f.fingerprint));
        assert_eq!(next, Some(at(12)));
        // The same declaration seen again does not restart the grace.
        s.record_declared("production", &[api("api@sha256:2")], &[], at(6));
        assert_eq!(s.quiet(std::slice::from_ref(&f), at(11), GRACE).1, Some(at(12)));
        // A stuck sync alerts when the grace ends.
        assert_eq!(
            s.quiet(std::slice::from_ref(&f), at(12), GRACE),
            (BTreeSet::new(), None)
        );
    }

    #[test]
    fn only_drift_types_settle_and_only_in_the_changed_environment() {
        let mut s = Settling::default();
        s.record_declared("production", &[api("api@sha256:1")], &[], at(0));
        s.record_declared("production", &[api("api@sha256:2")], &[], at(1));
        for (kind, held) in [
            (FindingType::DigestDrift, true),
            (FindingType::SpecDrift, true),
            (FindingType::MixedRollout, true),
            (FindingType::Missing, true),
            (FindingType::Unpinned, false),
            (FindingType::DigestNotFound, false),
            (FindingType::InvalidManifest, false),
        ] {
            let f = drift(kind);
            assert_eq!(!s.quiet(&[f], at(2), GRACE).0.is_empty(), held, "{kind:?}");
        }
        let mut elsewhere = drift(FindingType::DigestDrift);
        elsewhere.environment = "staging".into();
        assert!(s.quiet(&[elsewhere], at(2), GRACE).0.is_empty());
    }

    #[test]
    fn the_first_observation_is_a_baseline_and_additions_and_removals_are_changes() {
        let mut s = Settling::default();
        // At start: what is declared is not "just changed".
        s.record_declared("production", &[api("api@sha256:1")], &[], at(0));
        assert!(s.quiet(&[drift(FindingType::Missing)], at(0), GRACE).0.is_empty());
        // Removed from git: `undeclared` while the cluster prunes it is held back.
        s.record_declared("production", &[], &[], at(1));
        assert!(!s.quiet(&[drift(FindingType::Undeclared)], at(2), GRACE).0.is_empty());
        // Added back: `missing` while it is created is held back.
        s.record_declared("production", &[api("api@sha256:1")], &[], at(3));
        assert_eq!(s.quiet(&[drift(FindingType::Missing)], at(4), GRACE).1, Some(at(13)));
    }
}
