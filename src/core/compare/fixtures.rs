//! Builders the comparison's unit tests share: one environment, one Deployment `api` in
//! namespace `shop`, its container `app`, and two digests.

use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

use super::{Scope, compare};
use crate::core::image::RunningImage;
use crate::core::model::{
    ContainerSpec, ContainerStatus, DeclaredState, DeclaredWorkload, FindingType, LivePod, LiveState, LiveWorkload,
    Rollout, Severity, WorkloadKind,
};

pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const REPO: &str = "registry.example.com/shop/api";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

pub fn scope<'a>(namespaces: &'a [String], ignore: &'a [String]) -> Scope<'a> {
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
        overrides: &[],
        controller: &[],
        signatures: None,
    }
}

pub fn declared(name: &str, image: &str) -> DeclaredWorkload {
    DeclaredWorkload {
        kind: WorkloadKind::Deployment,
        namespace: "shop".into(),
        name: name.into(),
        source: format!("apps/{name}/overlays/production"),
        containers: vec![ContainerSpec {
            name: "app".into(),
            image: image.into(),
            init: false,
            invalid: None,
        }],
        helm: None,
    }
}

pub fn pod(name: &str, container: &str, image: RunningImage) -> LivePod {
    LivePod {
        name: name.into(),
        statuses: vec![ContainerStatus {
            name: container.into(),
            init: false,
            image,
            made_as: None,
        }],
    }
}

pub fn digest(d: &str) -> RunningImage {
    RunningImage::Digest {
        repository: Some(REPO.into()),
        digest: d.into(),
    }
}

pub fn live(name: &str, spec_image: &str, pods: Vec<LivePod>) -> LiveWorkload {
    LiveWorkload {
        kind: WorkloadKind::Deployment,
        namespace: "shop".into(),
        name: name.into(),
        containers: vec![ContainerSpec {
            name: "app".into(),
            image: spec_image.into(),
            init: false,
            invalid: None,
        }],
        rollout: Rollout::default(),
        pods,
    }
}

pub fn run(d: Vec<DeclaredWorkload>, l: Vec<LiveWorkload>) -> Vec<(FindingType, Severity, String)> {
    run_with(
        &scope(&[], &[]),
        DeclaredState {
            workloads: d,
            ..Default::default()
        },
        l,
    )
}

pub fn run_with(scope: &Scope<'_>, d: DeclaredState, l: Vec<LiveWorkload>) -> Vec<(FindingType, Severity, String)> {
    let live = LiveState {
        workloads: l.into_iter().map(|w| (w.key(), w)).collect(),
        ..Default::default()
    };
    compare(scope, &d, Some(&live))
        .into_iter()
        .map(|f| (f.kind, f.severity, f.name.unwrap_or_default()))
        .collect()
}

pub fn pinned(d: &str) -> String {
    format!("{REPO}@{d}")
}
