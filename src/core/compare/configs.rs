//! `config-drift`: declared ConfigMaps (and Secrets with `compare_secrets`) that differ from or
//! are absent from the cluster, and declared workloads whose Pods need one that does not exist.

use std::collections::BTreeSet;

use super::{Environment, Scope, fingerprint};
use crate::core::model::{
    ConfigListing, ConfigObject, DeclaredWorkload, Finding, FindingType, LiveState, Severity, WorkloadKey,
};

pub(super) fn config_drift(env: &Environment<'_>, out: &mut Vec<Finding>) {
    let Some(live) = env.live else { return };
    match &live.config_listing {
        ConfigListing::Listed => {
            declared_configs(env, live, out);
            needed_configs(env, live, out);
        }
        ConfigListing::Skipped => {}
        ConfigListing::Refused(reason) => out.push(not_compared(env.scope, reason)),
    }
}

/// One finding for an environment whose ConfigMaps could not be listed: what is missing and
/// the two ways out, instead of failing the audit of a least-privilege reader.
fn not_compared(scope: &Scope<'_>, reason: &str) -> Finding {
    let message = format!(
        "ConfigMaps not compared: {reason}. Grant get/list on configmaps to compare them, or set compare_configmaps = false for this environment"
    );
    let mut f = config_finding(scope, "", "", None, message);
    f.kind = FindingType::Unverifiable;
    f.severity = Severity::Info;
    f.name = None;
    // One per environment and cluster, whatever the server's wording.
    f.fingerprint = fingerprint(&f, "configmaps-not-listed");
    f
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

/// Declared objects of a listed namespace that the cluster lacks or holds otherwise.
fn declared_configs(env: &Environment<'_>, live: &LiveState, out: &mut Vec<Finding>) {
    let scope = env.scope;
    for d in env
        .declared
        .configs
        .iter()
        .filter(|d| (scope.compare_secrets || !d.secret) && env.listed(&d.namespace))
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
        let message = match exact.or_else(previous) {
            None => Some(format!(
                "{} {}/{} is declared in {} but does not exist in the cluster",
                d.kind(),
                d.namespace,
                d.name,
                d.source
            )),
            Some(l) => difference(d, l),
        };
        if let Some(message) = message {
            out.push(config_finding(scope, &d.namespace, &d.name, Some(d), message));
        }
    }
}

/// How the live object `l` differs from the declared `d`, by key names (values never show).
fn difference(d: &ConfigObject, l: &ConfigObject) -> Option<String> {
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
    (!parts.is_empty()).then(|| format!("{} {}/{}: {}", d.kind(), d.namespace, d.name, parts.join("; ")))
}

/// Objects the Pods of declared workloads need that do not exist in the cluster.
fn needed_configs(env: &Environment<'_>, live: &LiveState, out: &mut Vec<Finding>) {
    if live.config_refs.is_empty() {
        return;
    }
    let scope = env.scope;
    let declared_keys: BTreeSet<WorkloadKey> = env.declared.workloads.iter().map(DeclaredWorkload::key).collect();
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

/// `declared_by` is the declared object, when the finding is about one (its path and file).
fn config_finding(
    scope: &Scope<'_>,
    namespace: &str,
    name: &str,
    declared_by: Option<&ConfigObject>,
    message: String,
) -> Finding {
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
        source: declared_by.map(|d| d.source.clone()),
        commit: scope.commit.map(str::to_string),
        message,
        live_image: None,
        file: declared_by.map(|d| d.file.clone()).filter(|f| !f.is_empty()),
        helm: None,
        argocd: None,
        flux: None,
    };
    // Which keys differ is part of what drifted, values never are.
    f.fingerprint = fingerprint(&f, &f.message.clone());
    f
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::compare;
    use super::super::fixtures::{D1, declared, live, pinned, scope};
    use crate::core::model::{ConfigObject, ConfigRef, DeclaredState, LiveState, WorkloadKey};

    fn config(secret: bool, name: &str, values: &[(&str, &str)]) -> ConfigObject {
        ConfigObject {
            secret,
            namespace: "shop".into(),
            name: name.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            source: "apps/api/overlays/production".into(),
            file: "apps/api/overlays/production/config.yaml".into(),
        }
    }

    fn messages(declared: DeclaredState, live: &LiveState) -> Vec<String> {
        compare(&scope(&[], &[]), &declared, Some(live))
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn config_drift_by_case() {
        let declared_api = || vec![declared("api", &pinned(D1))];
        let live_of = |configs: Vec<ConfigObject>, refs: Vec<ConfigRef>| LiveState {
            workloads: [live("api", &pinned(D1), vec![])]
                .into_iter()
                .map(|w| (w.key(), w))
                .collect(),
            configs: configs
                .into_iter()
                .map(|c| ((c.secret, c.namespace.clone(), c.name.clone()), c))
                .collect::<BTreeMap<_, _>>(),
            config_refs: refs,
            config_listing: Default::default(),
            rollouts_refused: None,
        };
        let cases = [
            (
                "previous generator generation, keys differ",
                vec![config(false, "app-config-5k8hbt2mdf", &[("a", "1"), ("b", "2")])],
                live_of(
                    vec![config(false, "app-config-aaaaaaaaaa", &[("a", "9"), ("c", "3")])],
                    vec![],
                ),
                vec![
                    "ConfigMap shop/app-config-5k8hbt2mdf: git renders app-config-5k8hbt2mdf but the cluster has \
                     app-config-aaaaaaaaaa; values differ: a; missing in the cluster: b; only in the cluster: c",
                ],
            ),
            (
                "absent from the cluster",
                vec![config(false, "app-config", &[("a", "1")])],
                live_of(vec![], vec![]),
                vec![
                    "ConfigMap shop/app-config is declared in apps/api/overlays/production but does not exist in the cluster",
                ],
            ),
            (
                "same content",
                vec![config(false, "app-config", &[("a", "1")])],
                live_of(vec![config(false, "app-config", &[("a", "1")])], vec![]),
                vec![],
            ),
            (
                "Secrets are not compared unless asked",
                vec![config(true, "creds", &[("a", "1")])],
                live_of(vec![], vec![]),
                vec![],
            ),
            (
                "Pods need a ConfigMap that does not exist",
                vec![],
                live_of(
                    vec![],
                    vec![ConfigRef {
                        workload: WorkloadKey {
                            kind: crate::core::model::WorkloadKind::Deployment,
                            namespace: "shop".into(),
                            name: "api".into(),
                        },
                        secret: false,
                        name: "flags".into(),
                    }],
                ),
                vec!["Pods of Deployment api need ConfigMap shop/flags, which does not exist in the cluster"],
            ),
        ];
        for (name, configs, live, want) in cases {
            let d = DeclaredState {
                workloads: declared_api(),
                configs,
                ..Default::default()
            };
            assert_eq!(messages(d, &live), want, "{name}");
        }
    }

    #[test]
    fn configmaps_the_reader_may_not_list_are_one_unverifiable_finding() {
        use crate::core::model::{ConfigListing, FindingType, Severity};
        let declared = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            configs: vec![config(false, "app-config", &[("a", "1")])],
            ..Default::default()
        };
        let refs = vec![ConfigRef {
            workload: WorkloadKey {
                kind: crate::core::model::WorkloadKind::Deployment,
                namespace: "shop".into(),
                name: "api".into(),
            },
            secret: false,
            name: "app-config".into(),
        }];
        let mut live = LiveState {
            workloads: [live("api", &pinned(D1), vec![])]
                .into_iter()
                .map(|w| (w.key(), w))
                .collect(),
            config_refs: refs,
            config_listing: ConfigListing::Refused("cluster prod: list configmaps: forbidden (HTTP 403)".into()),
            ..Default::default()
        };
        let findings = compare(&scope(&[], &[]), &declared, Some(&live));
        let configs: Vec<_> = findings
            .iter()
            .filter(|f| f.kind == FindingType::ConfigDrift || f.kind == FindingType::Unverifiable)
            .collect();
        assert_eq!(
            configs.len(),
            1,
            "no false config-drift from an empty list: {configs:#?}"
        );
        assert_eq!(
            (configs[0].kind, configs[0].severity),
            (FindingType::Unverifiable, Severity::Info)
        );
        assert!(
            configs[0].message.contains("list configmaps: forbidden"),
            "{}",
            configs[0].message
        );
        assert!(
            configs[0].message.contains("compare_configmaps = false"),
            "{}",
            configs[0].message
        );

        live.config_listing = ConfigListing::Skipped;
        let findings = compare(&scope(&[], &[]), &declared, Some(&live));
        assert!(
            !findings
                .iter()
                .any(|f| f.kind == FindingType::ConfigDrift || f.kind == FindingType::Unverifiable),
            "compare_configmaps = false: no config checks at all: {findings:#?}"
        );
    }
}
