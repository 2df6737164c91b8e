//! The findings list: every finding, then every ignored one with its rule.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::ignore::Ignored;
use crate::core::model::{ArgoCdStatus, Finding, FindingType, FluxStatus, HelmSource, RunningDigest, Severity};

#[derive(Clone, Debug, Serialize)]
pub struct FindingView {
    pub fingerprint: String,
    pub environment: String,
    pub severity: Severity,
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// `namespace/Kind/name`, for a finding about a workload.
    pub workload: Option<String>,
    /// What the finding is about, as the page names it: `Kind/name`, a ConfigMap's name, a
    /// file.
    pub subject: String,
    pub namespace: String,
    pub container: Option<String>,
    pub declared: Option<String>,
    pub live_image: Option<String>,
    pub running: Vec<RunningDigest>,
    pub source: Option<String>,
    pub file: Option<String>,
    /// The Helm release and chart template of a workload a release declares (`release`,
    /// `template`; absent otherwise).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    pub commit: Option<String>,
    pub message: String,
    /// What Argo CD reports of the finding's Application (`argocd` in JSON, absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoCdStatus>,
    /// [`argocd`](Self::argocd) in one sentence, saying so when Argo CD calls it Synced while
    /// the Pods run what git does not declare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd_note: Option<String>,
    /// What Flux reports of the finding's Kustomization or HelmRelease (`flux` in JSON,
    /// absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxStatus>,
    /// [`flux`](Self::flux) in one sentence, saying so when Flux calls it Ready while the Pods
    /// run what git does not declare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux_note: Option<String>,
    pub ignored: Option<IgnoredBy>,
    /// When the alert state first saw it (the daemon's store); `None` without one (`--once`).
    pub first_seen: Option<DateTime<Utc>>,
    /// How long it had lasted when the audit finished, in seconds.
    pub age_seconds: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IgnoredBy {
    pub reason: String,
    pub expires: Option<chrono::NaiveDate>,
}

/// `namespace/Kind/name` of a finding about a workload.
pub(super) fn workload_of(f: &Finding) -> Option<String> {
    match (&f.workload_kind, &f.name) {
        (Some(k), Some(n)) => Some(format!("{}/{}/{n}", f.namespace, k.as_str())),
        _ => None,
    }
}

pub(super) fn finding_view(f: &Finding, ignored: Option<&Ignored>) -> FindingView {
    FindingView {
        fingerprint: f.fingerprint.clone(),
        environment: f.environment.clone(),
        severity: f.severity,
        kind: f.kind,
        workload: workload_of(f),
        subject: crate::core::report::workload(f),
        namespace: f.namespace.clone(),
        container: f.container.clone(),
        declared: f.declared.clone(),
        live_image: f.live_image.clone(),
        running: f.running.clone(),
        source: f.source.clone(),
        file: f.file.clone(),
        helm: f.helm.clone(),
        commit: f.commit.clone(),
        message: f.message.clone(),
        argocd: f.argocd.clone(),
        argocd_note: crate::core::compare::argocd_note(f),
        flux: f.flux.clone(),
        flux_note: crate::core::compare::flux_note(f),
        ignored: ignored.map(|i| IgnoredBy {
            reason: i.reason.clone(),
            expires: i.expires,
        }),
        first_seen: None,
        age_seconds: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::core::report::status::fixtures::*;
    use crate::core::report::status::{STATUS_SCHEMA, StatusView};

    #[test]
    fn findings_list_every_finding_and_the_ignored_ones_last_with_the_reason() {
        let v = StatusView::build(&fleet(), &order());
        assert_eq!(v.findings.len(), 5);
        let last = v.findings.last().unwrap();
        assert_eq!(last.fingerprint, "production-flaky-digest-drift");
        assert_eq!(last.ignored.as_ref().unwrap().reason, "canary under test, TICKET-7");
        assert!(v.findings[..4].iter().all(|f| f.ignored.is_none()));
        assert_eq!(v.findings[0].environment, "staging", "page order: staging first");
        assert_eq!(v.findings_of("shop/Deployment/api").len(), 1);
        let json: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(json["schema"], STATUS_SCHEMA);
        assert_eq!(json["findings"][0]["type"], "unpinned");
        let api = json["matrix"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workload"] == "shop/Deployment/api")
            .unwrap();
        assert_eq!(api["cells"][1]["state"], "drifting");
        assert_eq!(api["cells"][1]["running"][0]["digest"], D2);
        assert!(json["findings"][0].get("release").is_none(), "only for Helm releases");
    }

    #[test]
    fn a_helm_workloads_finding_names_its_release_and_template() {
        let mut report = fleet();
        report.findings[0].helm = Some(crate::core::model::HelmSource {
            release: "shop".into(),
            template: "shop/templates/deployment.yaml".into(),
        });
        let v = StatusView::build(&report, &order());
        let f = v.findings.iter().find(|f| f.helm.is_some()).expect("the Helm finding");
        let json = serde_json::to_value(f).unwrap();
        assert_eq!(
            (json["release"].as_str(), json["template"].as_str()),
            (Some("shop"), Some("shop/templates/deployment.yaml"))
        );
        let html = report.to_html(&order());
        assert!(
            html.contains("<dt>Helm release</dt><dd>shop · <code>shop/templates/deployment.yaml</code></dd>"),
            "the page shows it"
        );
    }
}
