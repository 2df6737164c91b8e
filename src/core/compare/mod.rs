//! The comparison: declared state vs live state for one environment, as findings. Pure and
//! deterministic: the same inputs (and `now`) give the same findings, in the same order.
//!
//! Precedence, so that one cause gives one finding per container:
//! - `spec-drift` when the live spec names another image than git (a hand `kubectl set
//!   image`); it carries the digests the Pods run, so no `digest-drift` is added for it.
//! - otherwise, while a rollout is in progress and younger than the grace, the Pods are not
//!   judged (old Pods on the old digest are expected);
//! - otherwise `digest-drift` when no Pod runs the declared digest, `mixed-rollout` when some
//!   do and some do not (or, for a tag, when Pods run several digests).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::core::image::{ImageRef, RunningImage};
use crate::core::model::{
    ContainerSpec, DeclaredState, DeclaredWorkload, Finding, FindingType, LiveState, LiveWorkload, Lookup,
    ManifestProblem, RegistryFacts, Rewrite, RunningDigest, Severity, WorkloadKey,
};

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
}

/// `reference` with the first matching rewrite applied (`from` prefix replaced by `to`).
pub fn rewrite(reference: &str, rules: &[Rewrite]) -> String {
    rules
        .iter()
        .find_map(|r| {
            reference
                .strip_prefix(r.from.as_str())
                .map(|rest| format!("{}{rest}", r.to))
        })
        .unwrap_or_else(|| reference.to_string())
}

/// A source prefix in the form image names are normalised to: a first component that is not a
/// host (no `.` or `:`, not `localhost`) is on Docker Hub, and `index.docker.io` is `docker.io`.
/// Unlike an image name, `library/` is not added: `docker.io/library` means the official images.
fn normalise_prefix(entry: &str) -> String {
    let (first, rest) = entry.split_once('/').unwrap_or((entry, ""));
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    match (is_host, first, rest) {
        (true, "index.docker.io", rest) => format!("docker.io/{rest}").trim_end_matches('/').to_string(),
        (true, _, _) => entry.to_string(),
        (false, _, _) => format!("docker.io/{entry}"),
    }
}

/// Whether `name` (a normalised `registry/repository`) is inside one of `allowed`, on path
/// boundaries: `host/app-release` allows `host/app-release` and `host/app-release/x`, never
/// `host/app-release-evil`. An entry without `/` is a whole registry host.
pub fn source_allowed(name: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            let prefix = normalise_prefix(entry.trim_end_matches('/'));
            name == prefix
                || name
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// `live` is `None` when the cluster could not be listed: only what git alone tells
/// (`unpinned`, `invalid-manifest`) is reported then.
pub fn compare(scope: &Scope<'_>, declared: &DeclaredState, live: Option<&LiveState>) -> Vec<Finding> {
    let mut out = Vec::new();
    let listed = |ns: &str| scope.namespaces.is_empty() || scope.namespaces.iter().any(|n| n == ns);

    for problem in &declared.problems {
        out.push(invalid_manifest(scope, problem));
    }

    let mut declared_keys = BTreeSet::new();
    for dw in &declared.workloads {
        declared_keys.insert(dw.key());
        if !listed(&dw.namespace) {
            continue;
        }
        let lw = live.and_then(|l| l.workloads.get(&dw.key()));
        if live.is_some() && lw.is_none() {
            out.push(finding(
                scope,
                FindingType::Missing,
                Severity::Warning,
                &dw.key(),
                None,
                Some(dw),
                None,
                Vec::new(),
                format!(
                    "{} {} is declared in {} but does not exist in namespace {}",
                    dw.kind, dw.name, dw.source, dw.namespace
                ),
            ));
        }
        for dc in &dw.containers {
            if scope.ignore_containers.contains(&dc.name) {
                continue;
            }
            compare_container(scope, dw, dc, lw, &mut out);
        }
    }

    // Undeclared workloads can only be judged when the declared set is complete.
    let declared_complete = declared.failed_paths.is_empty() && declared.problems.iter().all(|p| p.workload.is_some());
    if let Some(live) = live.filter(|_| declared_complete) {
        let declared_namespaces: BTreeSet<&str> = declared.workloads.iter().map(|w| w.namespace.as_str()).collect();
        for (key, lw) in &live.workloads {
            if declared_keys.contains(key) {
                continue;
            }
            let in_scope = if scope.namespaces.is_empty() {
                declared_namespaces.contains(key.namespace.as_str())
            } else {
                listed(&key.namespace)
            };
            if !in_scope {
                continue;
            }
            let running = digests_of(lw, |_| true, scope.ignore_containers).0;
            let images: Vec<&str> = lw
                .containers
                .iter()
                .filter(|c| !scope.ignore_containers.contains(&c.name))
                .map(|c| c.image.as_str())
                .collect();
            out.push(finding(
                scope,
                FindingType::Undeclared,
                Severity::Warning,
                key,
                None,
                None,
                None,
                running,
                format!(
                    "{} {} runs in namespace {} ({}) but no environment path declares it",
                    key.kind,
                    key.name,
                    key.namespace,
                    images.join(", ")
                ),
            ));
        }
    }

    if let Some(live) = live {
        compare_configs(scope, declared, live, &mut out);
    }

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

fn compare_container(
    scope: &Scope<'_>,
    dw: &DeclaredWorkload,
    dc: &ContainerSpec,
    lw: Option<&LiveWorkload>,
    out: &mut Vec<Finding>,
) {
    let key = dw.key();
    let emit = |kind, severity, running: Vec<RunningDigest>, message: String| {
        finding(
            scope,
            kind,
            severity,
            &key,
            Some(&dc.name),
            Some(dw),
            Some(&dc.image),
            running,
            message,
        )
    };
    let Ok(declared) = ImageRef::parse(&dc.image) else {
        return;
    };
    if declared.digest().is_none() {
        let severity = if scope.require_digest {
            Severity::Critical
        } else {
            Severity::Info
        };
        let message = format!(
            "{} is declared by tag, not by digest: the bytes behind it can change without a commit",
            dc.image
        );
        out.push(emit(FindingType::Unpinned, severity, Vec::new(), message));
    }
    // What the registry says about the declared reference: gone (the next Pod start fails to
    // pull), unreachable (the checks below are unverifiable), or, for a tag, where it points.
    let name = declared.name();
    let mut tag_target: Option<String> = None;
    if let Some(facts) = scope.registry {
        // A digest must still exist; a tag must still exist, and where it points now is what
        // the Pods are compared with.
        let (subject, looked_up) = match (declared.digest(), declared.effective_tag()) {
            (Some(d), _) => (
                format!("{name}@{}", short(d)),
                facts.manifest(&name, d).map(|l| l.map(|_| None)),
            ),
            (None, Some(tag)) => (
                format!("tag {name}:{tag}"),
                facts.tag(&name, tag).map(|l| l.map(|t| Some(t.clone()))),
            ),
            (None, None) => (String::new(), None),
        };
        match looked_up {
            Some(Lookup::Found(target)) => tag_target = target,
            Some(Lookup::NotFound) => {
                let message =
                    format!("{subject} no longer exists in the registry: the next Pod start will fail to pull it");
                out.push(emit(
                    FindingType::DigestNotFound,
                    Severity::Critical,
                    Vec::new(),
                    message,
                ));
            }
            Some(Lookup::Unavailable(reason)) => {
                let message = format!("registry check not possible: {reason}");
                out.push(emit(FindingType::Unverifiable, Severity::Info, Vec::new(), message));
            }
            None => {}
        }
    }
    if let (Some((from, skipped)), Some(d)) = (scope.promotion, declared.digest())
        && let Some(commit) = skipped.get(d)
    {
        let message = format!(
            "{} reached {} in commit {} without being declared in {from} first: the promotion gate was skipped",
            short(d),
            scope.environment,
            &commit[..commit.len().min(12)]
        );
        out.push(emit(
            FindingType::PromotionSkipped,
            Severity::Critical,
            Vec::new(),
            message,
        ));
    }
    let declared_allowed = source_allowed(&name, scope.allowed_sources);
    let Some(lw) = lw else {
        if !declared_allowed {
            let message = format!(
                "{} is outside the allowed sources ({})",
                declared.name(),
                scope.allowed_sources.join(", ")
            );
            out.push(emit(
                FindingType::DisallowedSource,
                Severity::Critical,
                Vec::new(),
                message,
            ));
        }
        return;
    };
    let (running, unverifiable) = digests_of(lw, |name| name == dc.name, &[]);
    // Where the Pods pulled from: the live spec's image and the repositories the runtime
    // reports with the digest, after rewrites for proxies and mirrors.
    let mut outside: BTreeSet<String> = BTreeSet::new();
    if !declared_allowed {
        outside.insert(format!("{} (declared)", declared.name()));
    }
    if !scope.allowed_sources.is_empty() {
        let live_specs = lw
            .containers
            .iter()
            .filter(|c| c.name == dc.name)
            .map(|c| rewrite(&c.image, scope.rewrites));
        let pulled = lw
            .pods
            .iter()
            .flat_map(|p| &p.statuses)
            .filter(|s| s.name == dc.name)
            .filter_map(|s| match &s.image {
                RunningImage::Digest {
                    repository: Some(repo), ..
                } => Some(rewrite(repo, scope.rewrites)),
                _ => None,
            });
        for reference in live_specs.chain(pulled) {
            if let Ok(r) = ImageRef::parse(&reference)
                && !source_allowed(&r.name(), scope.allowed_sources)
            {
                outside.insert(format!("{} (running)", r.name()));
            }
        }
    }
    if !outside.is_empty() {
        let list: Vec<String> = outside.into_iter().collect();
        let message = format!(
            "{} outside the allowed sources ({})",
            list.join(", "),
            scope.allowed_sources.join(", ")
        );
        out.push(emit(
            FindingType::DisallowedSource,
            Severity::Critical,
            running.clone(),
            message,
        ));
    }

    let Some(live_spec) = lw.containers.iter().find(|c| c.name == dc.name) else {
        let message = format!(
            "container {} is declared in git but absent from the live {} spec",
            dc.name, lw.kind
        );
        out.push(emit(FindingType::SpecDrift, Severity::Critical, running, message));
        return;
    };
    if !ImageRef::parse(&rewrite(&live_spec.image, scope.rewrites)).is_ok_and(|l| l.same_image(&declared)) {
        let message = format!("live spec runs {} but git declares {}", live_spec.image, dc.image);
        out.push(emit(FindingType::SpecDrift, Severity::Critical, running, message));
        return;
    }

    if !unverifiable.is_empty() {
        let pods: usize = unverifiable.iter().map(|r| r.pods).sum();
        let message = format!(
            "{pods} Pod(s) report only an image config ID, not a manifest digest: the running digest cannot be checked"
        );
        out.push(emit(FindingType::Unverifiable, Severity::Info, unverifiable, message));
    }

    let rollout = &lw.rollout;
    let young = rollout
        .started_at
        .is_none_or(|t| scope.now.signed_duration_since(t).to_std().unwrap_or_default() < scope.rollout_grace);
    if rollout.in_progress && young {
        return;
    }
    let stuck = stuck_note(rollout.in_progress);
    // A multi-arch image: Pods report a platform manifest of the declared index (or the index
    // of a declared platform manifest). That is the declared image, not drift.
    let target = declared.digest().map(str::to_string).or_else(|| tag_target.clone());
    let running = match (scope.registry, &target) {
        (Some(facts), Some(want)) => same_content_as(running, want, &name, facts),
        _ => running,
    };
    if let Some(t) = &tag_target {
        let stale: Vec<RunningDigest> = running.iter().filter(|r| &r.digest != t).cloned().collect();
        if !stale.is_empty() {
            let message = format!(
                "git declares {} by tag; the registry now serves {} for it, but Pods run {}",
                dc.image,
                short(t),
                list_short(&stale)
            );
            out.push(emit(FindingType::TagMoved, Severity::Critical, running, message));
        }
        return;
    }
    match declared.digest() {
        Some(want) => {
            let others: usize = running.iter().filter(|r| r.digest != want).map(|r| r.pods).sum();
            if others == 0 {
                return;
            }
            if running.iter().any(|r| r.digest == want) {
                let message = format!(
                    "{others} Pod(s) still run another digest than the declared {}{stuck}",
                    short(want)
                );
                out.push(emit(FindingType::MixedRollout, Severity::Warning, running, message));
            } else {
                let message = format!("Pods run {} but git declares {}", list_short(&running), short(want));
                out.push(emit(FindingType::DigestDrift, Severity::Critical, running, message));
            }
        }
        None if running.len() > 1 => {
            let message = format!(
                "Pods of one workload run {} different digests for {}{stuck}",
                running.len(),
                dc.image
            );
            out.push(emit(FindingType::MixedRollout, Severity::Warning, running, message));
        }
        None => {}
    }
}

/// The name without a kustomize generator suffix (`app-config-5k8hbt2mdf` → `app-config`).
fn generator_base(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, suffix))
            if suffix.len() == 10 && suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            base
        }
        _ => name,
    }
}

/// `config-drift`: declared ConfigMaps (and Secrets with `compare_secrets`) that differ from or
/// are absent from the cluster, and declared workloads whose Pods need one that does not exist.
fn compare_configs(scope: &Scope<'_>, declared: &DeclaredState, live: &LiveState, out: &mut Vec<Finding>) {
    let listed = |ns: &str| scope.namespaces.is_empty() || scope.namespaces.iter().any(|n| n == ns);
    for d in declared
        .configs
        .iter()
        .filter(|d| (scope.compare_secrets || !d.secret) && listed(&d.namespace))
    {
        let exact = live.configs.get(&(d.secret, d.namespace.clone(), d.name.clone()));
        // A kustomize generator renames the object when its content changes: a live object with
        // the same base name is the previous generation, so compare with it.
        let previous = || {
            live.configs.values().find(|l| {
                l.secret == d.secret
                    && l.namespace == d.namespace
                    && generator_base(&l.name) == generator_base(&d.name)
                    && generator_base(&d.name) != d.name
            })
        };
        let kind = d.kind();
        let message = match exact.or_else(previous) {
            None => Some(format!(
                "{kind} {}/{} is declared in {} but does not exist in the cluster",
                d.namespace, d.name, d.source
            )),
            Some(l) => {
                let changed: Vec<&str> = d
                    .values
                    .iter()
                    .filter(|(k, v)| l.values.get(*k).is_some_and(|lv| lv != *v))
                    .map(|(k, _)| k.as_str())
                    .collect();
                let missing: Vec<&str> = d
                    .values
                    .keys()
                    .filter(|k| !l.values.contains_key(*k))
                    .map(String::as_str)
                    .collect();
                let extra: Vec<&str> = l
                    .values
                    .keys()
                    .filter(|k| !d.values.contains_key(*k))
                    .map(String::as_str)
                    .collect();
                let mut parts = Vec::new();
                if l.name != d.name {
                    parts.push(format!("git renders {} but the cluster has {}", d.name, l.name));
                }
                for (what, keys) in [
                    ("values differ", &changed),
                    ("missing in the cluster", &missing),
                    ("only in the cluster", &extra),
                ] {
                    if !keys.is_empty() {
                        parts.push(format!("{what}: {}", keys.join(", ")));
                    }
                }
                (!parts.is_empty()).then(|| format!("{kind} {}/{}: {}", d.namespace, d.name, parts.join("; ")))
            }
        };
        if let Some(message) = message {
            out.push(config_finding(scope, &d.namespace, &d.name, Some(&d.source), message));
        }
    }
    if live.config_refs.is_empty() {
        return;
    }
    let declared_keys: BTreeSet<WorkloadKey> = declared.workloads.iter().map(DeclaredWorkload::key).collect();
    for r in live
        .config_refs
        .iter()
        .filter(|r| declared_keys.contains(&r.workload) && (scope.compare_secrets || !r.secret))
    {
        let ns = &r.workload.namespace;
        if !live.configs.contains_key(&(r.secret, ns.clone(), r.name.clone())) {
            let kind = if r.secret { "Secret" } else { "ConfigMap" };
            let message = format!(
                "Pods of {} {} need {kind} {ns}/{}, which does not exist in the cluster",
                r.workload.kind, r.workload.name, r.name
            );
            out.push(config_finding(scope, ns, &r.name, None, message));
        }
    }
}

fn config_finding(scope: &Scope<'_>, namespace: &str, name: &str, source: Option<&str>, message: String) -> Finding {
    let mut f = Finding {
        fingerprint: String::new(),
        kind: FindingType::ConfigDrift,
        severity: Severity::Warning,
        environment: scope.environment.to_string(),
        cluster: scope.cluster.to_string(),
        namespace: namespace.to_string(),
        workload_kind: None,
        name: Some(name.to_string()),
        container: None,
        declared: None,
        running: Vec::new(),
        source: source.map(str::to_string),
        commit: scope.commit.map(str::to_string),
        message,
    };
    // Which keys differ is part of what drifted, values never are.
    f.fingerprint = fingerprint(&f, &f.message.clone());
    f
}

/// `running` with every digest that is the same content as `want` (multi-arch) counted as
/// `want`.
fn same_content_as(running: Vec<RunningDigest>, want: &str, name: &str, facts: &RegistryFacts) -> Vec<RunningDigest> {
    let mut merged: BTreeMap<String, usize> = BTreeMap::new();
    for r in running {
        let digest = if facts.same_content(name, want, &r.digest).is_some() {
            want.to_string()
        } else {
            r.digest
        };
        *merged.entry(digest).or_default() += r.pods;
    }
    merged
        .into_iter()
        .map(|(digest, pods)| RunningDigest { digest, pods })
        .collect()
}

fn stuck_note(in_progress: bool) -> &'static str {
    if in_progress {
        " (rollout in progress longer than the grace period)"
    } else {
        ""
    }
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

fn invalid_manifest(scope: &Scope<'_>, p: &ManifestProblem) -> Finding {
    let mut f = Finding {
        fingerprint: String::new(),
        kind: FindingType::InvalidManifest,
        severity: Severity::Warning,
        environment: scope.environment.to_string(),
        cluster: scope.cluster.to_string(),
        namespace: p.workload.as_ref().map(|w| w.namespace.clone()).unwrap_or_default(),
        workload_kind: p.workload.as_ref().map(|w| w.kind),
        name: p.workload.as_ref().map(|w| w.name.clone()),
        container: p.container.clone(),
        declared: None,
        running: Vec::new(),
        source: Some(p.source.clone()),
        commit: scope.commit.map(str::to_string),
        message: format!("{}: {}", p.file, p.reason),
    };
    // The reason is left out of the fingerprint: a line number moving inside a still-broken
    // file is the same problem.
    f.fingerprint = fingerprint(&f, &p.file);
    f
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
    use super::*;
    use crate::core::model::{ContainerStatus, LivePod, Rollout, WorkloadKind};
    use chrono::TimeZone;
    use std::time::Duration;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const REPO: &str = "registry.example.com/shop/api";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn scope<'a>(namespaces: &'a [String], ignore: &'a [String]) -> Scope<'a> {
        Scope {
            environment: "production",
            cluster: "prod-eu1",
            commit: Some("abc123"),
            require_digest: true,
            ignore_containers: ignore,
            namespaces,
            rollout_grace: Duration::from_secs(600),
            now: now(),
            allowed_sources: &[],
            rewrites: &[],
            registry: None,
            promotion: None,
            compare_secrets: false,
        }
    }

    fn declared(name: &str, image: &str) -> DeclaredWorkload {
        DeclaredWorkload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: name.into(),
            source: format!("apps/{name}/overlays/production"),
            containers: vec![ContainerSpec {
                name: "app".into(),
                image: image.into(),
                init: false,
            }],
        }
    }

    fn pod(name: &str, container: &str, image: RunningImage) -> LivePod {
        LivePod {
            name: name.into(),
            statuses: vec![ContainerStatus {
                name: container.into(),
                init: false,
                image,
            }],
        }
    }

    fn digest(d: &str) -> RunningImage {
        RunningImage::Digest {
            repository: Some(REPO.into()),
            digest: d.into(),
        }
    }

    fn live(name: &str, spec_image: &str, pods: Vec<LivePod>) -> LiveWorkload {
        LiveWorkload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: name.into(),
            containers: vec![ContainerSpec {
                name: "app".into(),
                image: spec_image.into(),
                init: false,
            }],
            rollout: Rollout::default(),
            pods,
        }
    }

    fn run(d: Vec<DeclaredWorkload>, l: Vec<LiveWorkload>) -> Vec<(FindingType, Severity, String)> {
        run_with(
            &scope(&[], &[]),
            DeclaredState {
                workloads: d,
                ..Default::default()
            },
            l,
        )
    }

    fn run_with(scope: &Scope<'_>, d: DeclaredState, l: Vec<LiveWorkload>) -> Vec<(FindingType, Severity, String)> {
        let live = LiveState {
            workloads: l.into_iter().map(|w| (w.key(), w)).collect(),
            ..Default::default()
        };
        compare(scope, &d, Some(&live))
            .into_iter()
            .map(|f| (f.kind, f.severity, f.name.unwrap_or_default()))
            .collect()
    }

    fn pinned(d: &str) -> String {
        format!("{REPO}@{d}")
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn findings_by_type() {
        use FindingType::*;
        use Severity::*;
        let p = pinned;
        let cases: Vec<(
            &str,
            Vec<DeclaredWorkload>,
            Vec<LiveWorkload>,
            Vec<(FindingType, Severity, &str)>,
        )> = vec![
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
        ];
        for (name, d, l, want) in cases {
            let got = run(d, l);
            let want: Vec<(FindingType, Severity, String)> =
                want.into_iter().map(|(t, s, n)| (t, s, n.to_string())).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn rollout_in_progress_is_quiet_within_grace_and_reported_after() {
        let mut l = live(
            "api",
            &pinned(D1),
            vec![pod("a", "app", digest(D1)), pod("b", "app", digest(D2))],
        );
        l.rollout = Rollout {
            in_progress: true,
            started_at: Some(now() - chrono::Duration::minutes(5)),
        };
        assert_eq!(run(vec![declared("api", &pinned(D1))], vec![l.clone()]), vec![]);
        l.rollout.started_at = Some(now() - chrono::Duration::minutes(30));
        let got = run(vec![declared("api", &pinned(D1))], vec![l]);
        assert_eq!(
            got,
            vec![(FindingType::MixedRollout, Severity::Warning, "api".to_string())]
        );
    }

    #[test]
    fn undeclared_scope() {
        let mut other_ns = live("coredns", &pinned(D1), vec![]);
        other_ns.namespace = "kube-system".into();
        // No namespaces configured: only namespaces with a declared workload are judged.
        assert_eq!(
            run(
                vec![declared("api", &pinned(D1))],
                vec![live("api", &pinned(D1), vec![]), other_ns.clone()]
            ),
            vec![]
        );
        // Namespaces configured: every listed namespace is judged.
        let ns = vec!["shop".to_string(), "kube-system".to_string()];
        let s = scope(&ns, &[]);
        let got = run_with(
            &s,
            DeclaredState {
                workloads: vec![declared("api", &pinned(D1))],
                ..Default::default()
            },
            vec![other_ns.clone()],
        );
        assert!(
            got.contains(&(FindingType::Undeclared, Severity::Warning, "coredns".into())),
            "{got:?}"
        );
        // An incomplete declared set (a path failed to render) never claims undeclared.
        let incomplete = DeclaredState {
            workloads: vec![],
            failed_paths: vec!["apps/x".into()],
            ..Default::default()
        };
        assert_eq!(run_with(&s, incomplete, vec![other_ns]), vec![]);
    }

    #[test]
    fn ignore_containers_and_not_required_digest() {
        let ignore = vec!["app".to_string()];
        let s = scope(&[], &ignore);
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d, vec![live("api", &pinned(D1), vec![pod("a", "app", digest(D2))])]),
            vec![]
        );
        let mut s = scope(&[], &[]);
        s.require_digest = false;
        let d = DeclaredState {
            workloads: vec![declared("api", &format!("{REPO}:1"))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d, vec![live("api", &format!("{REPO}:1"), vec![])]),
            vec![(FindingType::Unpinned, Severity::Info, "api".into())]
        );
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

    #[test]
    fn allowed_sources_respect_path_boundaries() {
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let allowed = vec![
            format!("{ecr}/myapp-release"),
            "docker.io/library".to_string(),
            "quay.io".to_string(),
        ];
        let cases = [
            ("exact repository", format!("{ecr}/myapp-release"), true),
            ("below it", format!("{ecr}/myapp-release/api"), true),
            (
                "same prefix, other repository",
                format!("{ecr}/myapp-release-evil"),
                false,
            ),
            ("dev tier", format!("{ecr}/myapp-dev"), false),
            ("official image", "docker.io/library/nginx".to_string(), true),
            ("hub user image", "docker.io/evil/nginx".to_string(), false),
            ("whole registry host", "quay.io/org/app".to_string(), true),
            (
                "host prefix is not a host",
                "quay.io.evil.com/org/app".to_string(),
                false,
            ),
        ];
        for (name, image, want) in cases {
            assert_eq!(source_allowed(&image, &allowed), want, "{name}");
        }
        assert!(source_allowed("anything/at/all", &[]), "no list: anything goes");
    }

    #[test]
    fn rewrites_apply_the_first_matching_prefix() {
        let rules = vec![
            Rewrite {
                from: "localhost:7439/".into(),
                to: "".into(),
            },
            Rewrite {
                from: "mirror.example.com/dockerhub/".into(),
                to: "docker.io/".into(),
            },
        ];
        assert_eq!(
            rewrite("localhost:7439/registry.example.com/shop/api:1", &rules),
            "registry.example.com/shop/api:1"
        );
        assert_eq!(
            rewrite("mirror.example.com/dockerhub/library/nginx:1", &rules),
            "docker.io/library/nginx:1"
        );
        assert_eq!(rewrite("registry.example.com/x", &rules), "registry.example.com/x");
    }

    #[test]
    fn disallowed_sources_and_proxied_images() {
        let allowed = vec!["registry.example.com/shop".to_string()];
        let rules = vec![Rewrite {
            from: "localhost:7439/".into(),
            to: "".into(),
        }];
        let mut s = scope(&[], &[]);
        s.allowed_sources = &allowed;
        s.rewrites = &rules;
        let proxied = format!("localhost:7439/{REPO}@{D1}");
        let proxied_pod = pod(
            "a",
            "app",
            RunningImage::Digest {
                repository: Some(format!("localhost:7439/{REPO}")),
                digest: D1.into(),
            },
        );
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d.clone(), vec![live("api", &proxied, vec![proxied_pod])]),
            vec![],
            "rewritten proxy reference: no drift, allowed"
        );

        // A hotfix pulled from elsewhere: spec drift and a promotion bypass.
        let hotfix = format!("ghcr.io/someone/api@{D2}");
        let hotfix_pod = pod(
            "a",
            "app",
            RunningImage::Digest {
                repository: Some("ghcr.io/someone/api".into()),
                digest: D2.into(),
            },
        );
        let got = run_with(&s, d, vec![live("api", &hotfix, vec![hotfix_pod])]);
        assert_eq!(
            got,
            vec![
                (FindingType::SpecDrift, Severity::Critical, "api".into()),
                (FindingType::DisallowedSource, Severity::Critical, "api".into())
            ]
        );

        // Declared from the wrong tier.
        let dev = DeclaredState {
            workloads: vec![declared("api", &format!("registry.example.com/dev/api@{D1}"))],
            ..Default::default()
        };
        let got = run_with(&s, dev, vec![]);
        assert_eq!(
            got,
            vec![
                (FindingType::DisallowedSource, Severity::Critical, "api".into()),
                (FindingType::Missing, Severity::Warning, "api".into())
            ]
        );
    }

    #[test]
    fn invalid_manifest_findings_carry_file_and_reason() {
        let d = DeclaredState {
            problems: vec![ManifestProblem {
                file: "apps/x/bad.yaml".into(),
                source: "apps/x".into(),
                workload: None,
                container: None,
                reason: "document 1: mapping values are not allowed".into(),
            }],
            ..Default::default()
        };
        let f = compare(&scope(&[], &[]), &d, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingType::InvalidManifest);
        assert_eq!(
            f[0].message,
            "apps/x/bad.yaml: document 1: mapping values are not allowed"
        );
    }
}
