//! The fleet the status view's unit tests (and the HTML renderer's) are built from.

use chrono::{DateTime, Utc};

use crate::core::model::{ContainerRun, Finding, FindingType, RunningDigest, Severity, WorkloadKey, WorkloadKind};
use crate::core::report::{EnvironmentResult, GitopsInfo, Report, Status};

pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const REPO: &str = "registry.example.com/shop";

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn image(name: &str, digest: &str) -> String {
    format!("{REPO}/{name}@{digest}")
}

/// `name` (container `name`) declared as `declared` and running `digests`.
pub fn run(name: &str, declared: &str, digests: &[(&str, usize)], in_progress: bool) -> ContainerRun {
    ContainerRun {
        workload: format!("shop/Deployment/{name}"),
        container: name.into(),
        declared_image: declared.into(),
        live_image: Some(declared.into()),
        made_as: std::collections::BTreeMap::new(),
        digests: digests
            .iter()
            .map(|(d, pods)| RunningDigest {
                digest: d.to_string(),
                pods: *pods,
            })
            .collect(),
        in_progress,
        rollout_started: Some(at("2026-11-25T14:02:00Z")),
        signed: None,
    }
}

pub fn env(name: &str, declared: &[&str], runs: Vec<ContainerRun>) -> EnvironmentResult {
    EnvironmentResult {
        name: name.into(),
        cluster: format!("{name}-eu1"),
        status: Status::Ok,
        errors: Vec::new(),
        incomplete: Vec::new(),
        declared_workloads: declared.len(),
        live_workloads: runs.len(),
        declared: declared
            .iter()
            .map(|n| WorkloadKey {
                kind: WorkloadKind::Deployment,
                namespace: "shop".into(),
                name: n.to_string(),
            })
            .collect(),
        paths: Vec::new(),
        releases: Vec::new(),
        runs,
    }
}

/// A finding about shop/Deployment `name` in `env`; `container` `None`: about the whole
/// workload.
pub fn finding(env: &str, name: &str, kind: FindingType, container: Option<&str>, running: &[&str]) -> Finding {
    let mut f = Finding::sample(env, name, kind, Severity::Warning);
    f.container = container.map(str::to_string);
    f.declared = container.map(|_| image(name, D1));
    f.running = running
        .iter()
        .map(|d| RunningDigest {
            digest: d.to_string(),
            pods: 2,
        })
        .collect();
    f.message = format!("{kind} of {name} in {env}");
    f
}

/// Two environments, production promoted from staging but listed first in the config:
/// - api: staging runs D2 as declared; production declares D1 and runs D2 (digest drift);
/// - worker: staging rolling out; not declared in production;
/// - gone: staging in sync; production missing;
/// - stray: undeclared in production only;
/// - tagged: unpinned in staging;
/// - flaky: in production, drift accepted by an ignore rule.
pub fn fleet() -> Report {
    let production = env(
        "production",
        &["api", "gone", "flaky"],
        vec![
            run("api", &image("api", D1), &[(D2, 3)], false),
            run("flaky", &image("flaky", D1), &[(D3, 1)], false),
        ],
    );
    let staging = env(
        "staging",
        &["api", "worker", "gone", "tagged"],
        vec![
            run("api", &image("api", D2), &[(D2, 2)], false),
            run("worker", &image("worker", D3), &[(D1, 1), (D3, 1)], true),
            run("gone", &image("gone", D1), &[(D1, 1)], false),
            run("tagged", &format!("{REPO}/tagged:v1"), &[(D3, 1)], false),
        ],
    );
    let mut r = Report::new(
        at("2026-11-26T10:00:00Z"),
        at("2026-11-26T10:00:12Z"),
        GitopsInfo {
            url: "https://git.example.com/infra.git".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        },
        vec![production, staging],
        vec![
            finding("production", "api", FindingType::DigestDrift, Some("api"), &[D2]),
            finding("production", "gone", FindingType::Missing, None, &[]),
            finding("production", "stray", FindingType::Undeclared, None, &[D3]),
            finding("staging", "tagged", FindingType::Unpinned, Some("tagged"), &[]),
            finding("production", "flaky", FindingType::DigestDrift, Some("flaky"), &[D3]),
        ],
    );
    let rules = crate::core::ignore::parse(
        "ignore:\n  - fingerprint: production-flaky-digest-drift\n    reason: canary under test, TICKET-7\n",
    )
    .unwrap();
    r.apply_ignore_rules(&rules, chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
    r
}

pub fn order() -> Vec<String> {
    vec!["staging".into(), "production".into()]
}

/// The fleet with each environment in a namespace of its own (`production-ns`,
/// `staging-ns`) on one cluster; `twice` also runs staging's api in `other-ns`.
pub fn as_namespaces(twice: bool) -> Report {
    let mut r = fleet();
    for e in &mut r.environments {
        let ns = format!("{}-ns", e.name);
        for run in &mut e.runs {
            run.workload = run.workload.replacen("shop/", &format!("{ns}/"), 1);
        }
        for k in &mut e.declared {
            k.namespace = ns.clone();
        }
    }
    for f in r
        .findings
        .iter_mut()
        .chain(r.ignored.iter_mut().map(|i| &mut i.finding))
    {
        f.namespace = format!("{}-ns", f.environment);
    }
    if twice {
        let mut api = r.environments[1].runs[0].clone();
        api.workload = "other-ns/Deployment/api".into();
        api.digests[0].digest = D3.into();
        r.environments[1].runs.push(api);
    }
    r
}
