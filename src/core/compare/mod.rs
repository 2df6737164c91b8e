//! The comparison: declared state vs live state for one environment, as findings. Pure and
//! deterministic: the same inputs (and `now`) give the same findings, in the same order.
//!
//! This module only orchestrates: it builds one environment's [`Environment`] and, per declared
//! container, its [`Container`], and runs the registered checks over them. Each family of checks
//! lives in its own file:
//! - `manifests.rs`: `invalid-manifest`;
//! - `presence.rs`: `missing` and `undeclared`, and which namespaces are judged; `unverifiable`
//!   for declared Argo Rollouts the cluster refused to list;
//! - `images.rs`: `unpinned`, `spec-drift`, `unverifiable` (config IDs), `digest-drift` and
//!   `mixed-rollout`;
//! - `rollout.rs`: whether a rollout in progress is still within its grace (an Argo Rollout's
//!   counts only while it is held);
//! - `registry.rs`: `digest-not-found`, `unverifiable` (registry down), `tag-moved`, multi-arch
//!   images, `disallowed-source` and the rewrites it applies first;
//! - `promotion.rs`: `promotion-skipped`;
//! - `configs.rs`: `config-drift`;
//! - `overrides.rs`: `override`;
//! - `controller.rs`: not a check: what Argo CD reports, attached to the findings;
//! - `signatures.rs`: `unsigned`, `signature-invalid`, `provenance-mismatch` (and `unverifiable`
//!   when the registry could not be read) for every digest a declared container's Pods run,
//!   outside the precedence below.
//!
//! Precedence, so that one cause gives one finding per container:
//! - `spec-drift` when the live spec names another image than git (a hand `kubectl set
//!   image`); it carries the digests the Pods run, so no `digest-drift` is added for it.
//! - otherwise, while a rollout is in progress and younger than the grace, the Pods are not
//!   judged (old Pods on the old digest are expected);
//! - otherwise `digest-drift` when no Pod runs the declared digest, `mixed-rollout` when some
//!   do and some do not (or, for a tag, when Pods run several digests).
//!
//! The precedence is the order of `DECLARED_CHECKS` and `LIVE_CHECKS`: a check that
//! returns [`Flow::Stop`] ends the judgement of that container.
//!
//! # Adding a check
//! Write it in a new file here (or in the file of its family), as a function of one of the
//! three shapes below, add `mod <file>;` above, and add the function to one table:
//! - `ENVIRONMENT_CHECKS`: `fn(&Environment, &mut Vec<Finding>)`, for checks over the whole
//!   environment (objects rather than containers);
//! - `DECLARED_CHECKS`: `fn(&mut Container, &mut Vec<Finding>) -> Flow`, for each declared
//!   container, whether or not the workload runs;
//! - `LIVE_CHECKS`: `fn(&mut Container, &LiveWorkload, &mut Vec<Finding>) -> Flow`, for each
//!   declared container whose workload runs.
//!
//! A new kind of finding also needs its [`FindingType`] variant and its name in
//! `FindingType::as_str` (`core/model.rs`).

mod configs;
mod controller;
#[cfg(test)]
mod fixtures;
mod images;
mod manifests;
mod overrides;
mod presence;
mod promotion;
mod registry;
mod rollout;
mod signatures;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::core::image::{ImageRef, RunningImage};
use crate::core::model::{
    ContainerRun, ContainerSpec, DeclaredState, DeclaredWorkload, Finding, FindingType, LiveState, LiveWorkload,
    RegistryFacts, Rewrite, RunningDigest, Severity, WorkloadKey,
};

pub use controller::{argocd_note, flux_note, note as controller_note};
pub use registry::{rewrite, source_allowed};

/// The environment settings the comparison needs.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    pub environment: &'a str,
    pub cluster: &'a str,
    pub commit: Option<&'a str>,
    pub require_digest: bool,
    pub ignore_containers: &'a [String],
    /// The namespaces the cluster was listed in; empty means all.
    pub namespaces: &'a [String],
    pub rollout_grace: std::time::Duration,
    pub now: DateTime<Utc>,
    /// Repository prefixes images must come from; empty: any.
    pub allowed_sources: &'a [String],
    /// Applied to live image references before they are compared.
    pub rewrites: &'a [Rewrite],
    /// What the registries answered; `None`: no registry checks.
    pub registry: Option<&'a RegistryFacts>,
    /// With `promoted_from`: the environment, and the declared digests that skipped it, each
    /// with the commit that introduced it here.
    pub promotion: Option<(&'a str, &'a BTreeMap<String, String>)>,
    /// Compare Secrets too (by hash).
    pub compare_secrets: bool,
    /// Images a live Argo CD Application sets outside git.
    pub overrides: &'a [crate::core::model::ImageOverride],
    /// What Argo CD reports of the live Applications the environment came from.
    pub controller: &'a [crate::core::model::ControllerView],
    /// What the signature policies concluded about the running digests; `None`: no policy
    /// applies to the environment.
    pub signatures: Option<&'a crate::core::signatures::SignatureFacts>,
}

/// What one environment's checks read.
pub struct Environment<'a> {
    pub scope: &'a Scope<'a>,
    pub declared: &'a DeclaredState,
    /// `None` when the cluster could not be listed.
    pub live: Option<&'a LiveState>,
}

impl Environment<'_> {
    /// Whether the cluster was listed in `namespace`.
    fn listed(&self, namespace: &str) -> bool {
        self.scope.namespaces.is_empty() || self.scope.namespaces.iter().any(|n| n == namespace)
    }
}

/// One declared container under judgement, and what the checks before have learnt about it.
pub struct Container<'a> {
    pub scope: &'a Scope<'a>,
    pub workload: &'a DeclaredWorkload,
    pub spec: &'a ContainerSpec,
    /// The live workload of the same key, when it runs.
    pub live: Option<&'a LiveWorkload>,
    /// `spec.image`, parsed.
    pub image: ImageRef,
    /// `image`'s normalised `registry/repository`.
    pub name: String,
    /// Where the declared tag points now in the registry (set by the registry lookup).
    pub tag_target: Option<String>,
    /// The digests the Pods run for this container, with Pod counts.
    pub running: Vec<RunningDigest>,
    /// What Pods report that is not a manifest digest (config IDs, unknown forms).
    pub unverifiable: Vec<RunningDigest>,
}

impl Container<'_> {
    /// A finding about this container.
    fn finding(&self, kind: FindingType, severity: Severity, running: Vec<RunningDigest>, message: String) -> Finding {
        let mut f = finding(
            self.scope,
            kind,
            severity,
            &self.workload.key(),
            Some(&self.spec.name),
            Some(self.workload),
            Some(&self.spec.image),
            running,
            message,
        );
        f.live_image = self.live_image().map(str::to_string);
        f
    }

    /// The image the live workload's spec names for this container, when it runs.
    fn live_image(&self) -> Option<&str> {
        let lw = self.live?;
        lw.containers
            .iter()
            .find(|c| c.name == self.spec.name)
            .map(|c| c.image.as_str())
    }
}

/// Whether the checks after this one still judge the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Next,
    Stop,
}

type EnvironmentCheck = fn(&Environment<'_>, &mut Vec<Finding>);
type DeclaredCheck = fn(&mut Container<'_>, &mut Vec<Finding>) -> Flow;
type LiveCheck = fn(&mut Container<'_>, &LiveWorkload, &mut Vec<Finding>) -> Flow;

/// Checks over the whole environment, in order.
const ENVIRONMENT_CHECKS: &[EnvironmentCheck] = &[
    manifests::invalid_manifests,
    presence::missing,
    presence::rollouts_not_listed,
    containers,
    presence::undeclared,
    configs::config_drift,
    overrides::overrides,
];

/// Per declared container, what git and the registry tell alone; run whether or not the
/// workload runs (when it does not, nothing more is judged).
const DECLARED_CHECKS: &[DeclaredCheck] = &[
    images::unpinned,
    registry::declared_reference,
    promotion::promotion_skipped,
    registry::disallowed_source,
];

/// Per declared container whose workload runs, in order of precedence.
const LIVE_CHECKS: &[LiveCheck] = &[
    images::spec_drift,
    images::unverifiable,
    rollout::within_grace,
    registry::multi_arch,
    registry::tag_moved,
    images::digest_drift,
];

/// `live` is `None` when the cluster could not be listed: only what git alone tells
/// (`unpinned`, `invalid-manifest`) is reported then.
pub fn compare(scope: &Scope<'_>, declared: &DeclaredState, live: Option<&LiveState>) -> Vec<Finding> {
    let env = Environment { scope, declared, live };
    let mut out = Vec::new();
    for check in ENVIRONMENT_CHECKS {
        check(&env, &mut out);
    }
    controller::attach(scope, &mut out);
    // A stable sort: findings of equal rank keep the order the checks gave them.
    out.sort_by(|a, b| {
        (b.severity, &a.namespace, a.workload_kind, &a.name, &a.container, a.kind).cmp(&(
            a.severity,
            &b.namespace,
            b.workload_kind,
            &b.name,
            &b.container,
            b.kind,
        ))
    });
    out
}

/// Runs the container checks over every declared container of a listed namespace.
fn containers(env: &Environment<'_>, out: &mut Vec<Finding>) {
    for dw in env.declared.workloads.iter().filter(|w| env.listed(&w.namespace)) {
        let lw = env.live.and_then(|l| l.workloads.get(&dw.key()));
        for dc in &dw.containers {
            // An invalid image is already an invalid-manifest finding; there is nothing to
            // compare it with.
            if env.scope.ignore_containers.contains(&dc.name) || dc.invalid.is_some() {
                continue;
            }
            judge_container(env.scope, dw, dc, lw, out);
        }
    }
}

fn judge_container(
    scope: &Scope<'_>,
    dw: &DeclaredWorkload,
    dc: &ContainerSpec,
    lw: Option<&LiveWorkload>,
    out: &mut Vec<Finding>,
) {
    // An unparsable reference is reported by the manifest extraction, not judged here.
    let Ok(image) = ImageRef::parse(&dc.image) else {
        return;
    };
    let (running, unverifiable) = lw
        .map(|lw| digests_of(lw, |name| name == dc.name, &[]))
        .unwrap_or_default();
    let mut c = Container {
        scope,
        workload: dw,
        spec: dc,
        live: lw,
        name: image.name(),
        image,
        tag_target: None,
        running,
        unverifiable,
    };
    // Before the checks below, which may stop the judgement and count platform digests as
    // their index: signatures are about the very digests the Pods run.
    signatures::running(&c, out);
    for check in DECLARED_CHECKS {
        if check(&mut c, out) == Flow::Stop {
            return;
        }
    }
    let Some(lw) = lw else {
        return;
    };
    for check in LIVE_CHECKS {
        if check(&mut c, lw, out) == Flow::Stop {
            return;
        }
    }
}

/// What each declared container of a listed, running workload runs (for the deployment
/// history), whatever the checks judged.
pub fn runs(scope: &Scope<'_>, declared: &DeclaredState, live: &LiveState) -> Vec<ContainerRun> {
    let mut out = Vec::new();
    for dw in &declared.workloads {
        let listed = scope.namespaces.is_empty() || scope.namespaces.contains(&dw.namespace);
        let Some(lw) = live.workloads.get(&dw.key()).filter(|_| listed) else {
            continue;
        };
        for dc in dw
            .containers
            .iter()
            .filter(|c| c.invalid.is_none() && !scope.ignore_containers.contains(&c.name))
        {
            let (digests, _) = digests_of(lw, |name| name == dc.name, &[]);
            let name = ImageRef::parse(&dc.image).map(|i| i.name()).unwrap_or_default();
            let signed = signatures::signed(scope.signatures, &name, &digests);
            out.push(ContainerRun {
                signed,
                workload: dw.key().to_string(),
                container: dc.name.clone(),
                declared_image: dc.image.clone(),
                live_image: lw
                    .containers
                    .iter()
                    .find(|c| c.name == dc.name)
                    .map(|c| c.image.clone()),
                made_as: made_as(lw, &dc.name),
                digests,
                in_progress: lw.rollout.in_progress,
                rollout_started: lw.rollout.started_at,
            });
        }
    }
    out
}

/// Per digest the Pods of `lw` run for `container`, the image the template they were made
/// from names (the first Pod's that says).
fn made_as(lw: &LiveWorkload, container: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in lw.pods.iter().flat_map(|p| &p.statuses).filter(|s| s.name == container) {
        if let (RunningImage::Digest { digest, .. }, Some(image)) = (&s.image, &s.made_as) {
            out.entry(digest.clone()).or_insert_with(|| image.clone());
        }
    }
    out
}

/// Digests (verifiable) and config IDs / unknown forms (unverifiable) the Pods of `lw` run for
/// the containers `pick` selects, with Pod counts, sorted by digest.
fn digests_of(
    lw: &LiveWorkload,
    pick: impl Fn(&str) -> bool,
    ignore: &[String],
) -> (Vec<RunningDigest>, Vec<RunningDigest>) {
    let mut ok: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut unverifiable: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for pod in &lw.pods {
        for s in pod
            .statuses
            .iter()
            .filter(|s| pick(&s.name) && !ignore.contains(&s.name))
        {
            let (map, id) = match &s.image {
                RunningImage::Digest { digest, .. } => (&mut ok, digest.clone()),
                RunningImage::ConfigId(id) | RunningImage::Unknown(id) => (&mut unverifiable, id.clone()),
                RunningImage::Pending => continue,
            };
            map.entry(id).or_default().insert(pod.name.as_str());
        }
    }
    let counts = |m: BTreeMap<String, BTreeSet<&str>>| {
        m.into_iter()
            .map(|(digest, pods)| RunningDigest {
                digest,
                pods: pods.len(),
            })
            .collect()
    };
    (counts(ok), counts(unverifiable))
}

/// `sha256:0123456789ab`: enough to tell digests apart in a message.
pub fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(19).collect(),
    }
}

fn list_short(running: &[RunningDigest]) -> String {
    running
        .iter()
        .map(|r| {
            format!(
                "{} ({} Pod{})",
                short(&r.digest),
                r.pods,
                if r.pods == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
fn finding(
    scope: &Scope<'_>,
    kind: FindingType,
    severity: Severity,
    key: &WorkloadKey,
    container: Option<&str>,
    declared_by: Option<&DeclaredWorkload>,
    declared: Option<&str>,
    running: Vec<RunningDigest>,
    message: String,
) -> Finding {
    let mut f = Finding {
        fingerprint: String::new(),
        kind,
        severity,
        environment: scope.environment.to_string(),
        cluster: scope.cluster.to_string(),
        namespace: key.namespace.clone(),
        workload_kind: Some(key.kind),
        name: Some(key.name.clone()),
        container: container.map(str::to_string),
        declared: declared.map(str::to_string),
        running,
        source: declared_by.map(|d| d.source.clone()),
        commit: scope.commit.map(str::to_string),
        message,
        live_image: None,
        file: None,
        helm: declared_by.and_then(|d| d.helm.clone()),
        argocd: None,
        flux: None,
    };
    f.fingerprint = fingerprint(&f, "");
    f
}

/// Stable identity of a finding across runs: what drifted and to what, not when or in which
/// commit. Pod counts are left out so scaling does not make a "new" finding.
fn fingerprint(f: &Finding, extra: &str) -> String {
    let mut h = Sha256::new();
    let running: Vec<&str> = f.running.iter().map(|r| r.digest.as_str()).collect();
    for part in [
        f.kind.as_str(),
        &f.environment,
        &f.cluster,
        &f.namespace,
        f.workload_kind.map_or("", |k| k.as_str()),
        f.name.as_deref().unwrap_or(""),
        f.container.as_deref().unwrap_or(""),
        f.declared.as_deref().unwrap_or(""),
        &running.join(","),
        extra,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex = format!("{:x}", h.finalize());
    hex[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::core::model::LiveState;

    /// (case name, declared, live, expected findings: type, severity, workload)
    type Case = (
        &'static str,
        Vec<DeclaredWorkload>,
        Vec<LiveWorkload>,
        Vec<(FindingType, Severity, &'static str)>,
    );

    fn check(cases: Vec<Case>) {
        for (name, d, l, want) in cases {
            let got = run(d, l);
            let want: Vec<(FindingType, Severity, String)> =
                want.into_iter().map(|(t, s, n)| (t, s, n.to_string())).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn what_runs_as_declared_is_no_finding() {
        let p = pinned;
        check(vec![
            (
                "in sync",
                vec![declared("api", &p(D1))],
                vec![live("api", &p(D1), vec![pod("a", "app", digest(D1))])],
                vec![],
            ),
            (
                "short name in git, long in cluster",
                vec![declared("api", &format!("nginx@{D1}"))],
                vec![live(
                    "api",
                    &format!("docker.io/library/nginx@{D1}"),
                    vec![pod("a", "app", digest(D1))],
                )],
                vec![],
            ),
            (
                "injected sidecar is not drift",
                vec![declared("api", &p(D1))],
                vec![{
                    let mut l = live(
                        "api",
                        &p(D1),
                        vec![pod("a", "app", digest(D1)), pod("a", "istio-proxy", digest(D2))],
                    );
                    l.containers.push(ContainerSpec {
                        name: "istio-proxy".into(),
                        image: "istio/proxyv2:1.20".into(),
                        init: false,
                        invalid: None,
                    });
                    l
                }],
                vec![],
            ),
            (
                "no pods yet is not drift",
                vec![declared("api", &p(D1))],
                vec![live("api", &p(D1), vec![])],
                vec![],
            ),
        ]);
    }

    #[test]
    fn drift_findings_by_type() {
        use FindingType::*;
        use Severity::*;
        let p = pinned;
        check(vec![
            (
                "digest drift",
                vec![declared("api", &p(D1))],
                vec![live("api", &p(D1), vec![pod("a", "app", digest(D2))])],
                vec![(DigestDrift, Critical, "api")],
            ),
            (
                "spec drift from kubectl set image, one finding",
                vec![declared("api", &p(D1))],
                vec![live("api", &p(D2), vec![pod("a", "app", digest(D2))])],
                vec![(SpecDrift, Critical, "api")],
            ),
            (
                "declared container absent from live spec",
                vec![declared("api", &p(D1))],
                vec![{
                    let mut l = live("api", &p(D1), vec![]);
                    l.containers[0].name = "other".into();
                    l
                }],
                vec![(SpecDrift, Critical, "api")],
            ),
            (
                "mixed rollout",
                vec![declared("api", &p(D1))],
                vec![live(
                    "api",
                    &p(D1),
                    vec![pod("a", "app", digest(D1)), pod("b", "app", digest(D2))],
                )],
                vec![(MixedRollout, Warning, "api")],
            ),
            (
                "tag resolving to two digests",
                {
                    let mut d = declared("api", &format!("{REPO}:v1"));
                    d.name = "api".into();
                    vec![d]
                },
                vec![live(
                    "api",
                    &format!("{REPO}:v1"),
                    vec![pod("a", "app", digest(D1)), pod("b", "app", digest(D2))],
                )],
                vec![(Unpinned, Critical, "api"), (MixedRollout, Warning, "api")],
            ),
        ]);
    }

    #[test]
    fn presence_pinning_and_unverifiable_findings_by_type() {
        use FindingType::*;
        use Severity::*;
        let p = pinned;
        check(vec![
            (
                "missing",
                vec![declared("api", &p(D1))],
                vec![],
                vec![(Missing, Warning, "api")],
            ),
            (
                "undeclared in a declared namespace",
                vec![declared("api", &p(D1))],
                vec![
                    live("api", &p(D1), vec![]),
                    live("hotfix", &p(D2), vec![pod("h", "app", digest(D2))]),
                ],
                vec![(Undeclared, Warning, "hotfix")],
            ),
            (
                "unpinned",
                vec![declared("api", &format!("{REPO}:1.0"))],
                vec![live("api", &format!("{REPO}:1.0"), vec![pod("a", "app", digest(D1))])],
                vec![(Unpinned, Critical, "api")],
            ),
            (
                "config id is unverifiable, not drift",
                vec![declared("api", &p(D1))],
                vec![live(
                    "api",
                    &p(D1),
                    vec![pod("a", "app", RunningImage::ConfigId(D2.into()))],
                )],
                vec![(Unverifiable, Info, "api")],
            ),
        ]);
    }

    #[test]
    fn fingerprints_are_stable_and_ignore_pod_counts() {
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            ..Default::default()
        };
        let one = LiveState {
            workloads: [live("api", &pinned(D1), vec![pod("a", "app", digest(D2))])]
                .into_iter()
                .map(|w| (w.key(), w))
                .collect(),
            ..Default::default()
        };
        let two = LiveState {
            workloads: [live(
                "api",
                &pinned(D1),
                vec![pod("a", "app", digest(D2)), pod("b", "app", digest(D2))],
            )]
            .into_iter()
            .map(|w| (w.key(), w))
            .collect(),
            ..Default::default()
        };
        let a = compare(&scope(&[], &[]), &d, Some(&one));
        let b = compare(&scope(&[], &[]), &d, Some(&two));
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
        assert_eq!(a[0].fingerprint.len(), 16);
        assert_eq!(
            b[0].running,
            vec![RunningDigest {
                digest: D2.into(),
                pods: 2
            }]
        );
        let mut prod = scope(&[], &[]);
        prod.environment = "staging";
        assert_ne!(compare(&prod, &d, Some(&one))[0].fingerprint, a[0].fingerprint);
    }
}
