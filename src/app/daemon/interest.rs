//! Which environments a watched change concerns: those that judge the namespace it happened
//! in, as the config and their last audit say. A change elsewhere in the cluster re-audits
//! nothing.

use std::collections::{BTreeSet, HashMap};

use crate::app::audit::Declared;
use crate::config::Config;
use crate::sources::cluster::watch::Change;

/// Per environment audited since the config was loaded: the namespaces it declares workloads
/// or ConfigMaps in at the last snapshot.
pub(super) type DeclaredNamespaces = HashMap<String, BTreeSet<String>>;

/// The namespaces `declared` puts something in.
pub(super) fn namespaces_of(declared: &Declared) -> BTreeSet<String> {
    let state = &declared.state;
    let workloads = state.workloads.iter().map(|w| &w.namespace);
    workloads
        .chain(state.configs.iter().map(|c| &c.namespace))
        .cloned()
        .collect()
}

/// The environments a watched change concerns: those on its cluster that judge the object's
/// namespace. With `namespaces`, those; without, the ones the environment declares something
/// in, where its workloads (with their ReplicaSets and Pods) and ConfigMaps live and where
/// `undeclared` looks: a change anywhere else cannot change its findings. An environment not
/// audited yet takes every change; a watcher's own failure or recovery (no name) concerns every
/// environment that reads the resource.
pub(super) fn environments_of(cfg: &Config, declared: &DeclaredNamespaces, change: &Change) -> Vec<String> {
    cfg.environments
        .iter()
        .filter(|e| e.cluster.name == change.cluster)
        .filter(|e| {
            let configured = &e.cluster.namespaces;
            if change.namespace.is_empty() || !configured.is_empty() {
                return change.namespace.is_empty() || configured.contains(&change.namespace);
            }
            change.name.is_empty()
                || declared
                    .get(&e.name)
                    .is_none_or(|judged| judged.contains(&change.namespace))
        })
        .map(|e| e.name.clone())
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Overrides;

    /// A config of `environments` (TOML `[[environments]]` tables) reading snapshots.
    pub(in crate::app::daemon) fn config(environments: &str) -> Config {
        let text = format!("[gitops]\npath = \"/nonexistent\"\n{environments}");
        let (env, overrides) = (HashMap::new(), Overrides::default());
        Config::from_str(
            &text,
            ::config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/"),
            &env,
            &overrides,
        )
        .expect("a valid config")
    }

    /// `production` on cluster `prod` without `namespaces`, `web` there with `namespaces = ["web"]`.
    pub(in crate::app::daemon) const TWO: &str = r#"
[[environments]]
name = "production"
paths = ["apps"]
[environments.cluster]
name = "prod"
snapshot = "live.json"

[[environments]]
name = "web"
paths = ["web"]
[environments.cluster]
name = "prod"
snapshot = "live.json"
namespaces = ["web"]
"#;

    /// `production` declared things in `shop` and `payments` at its last audit.
    pub(in crate::app::daemon) fn declared() -> DeclaredNamespaces {
        let namespaces = ["shop", "payments"].map(String::from).into_iter().collect();
        HashMap::from([("production".to_string(), namespaces)])
    }

    pub(in crate::app::daemon) fn change(cluster: &str, namespace: &str, kind: &'static str, name: &str) -> Change {
        Change {
            cluster: cluster.into(),
            namespace: namespace.into(),
            kind,
            name: name.into(),
        }
    }

    #[test]
    fn a_change_concerns_the_environments_that_judge_its_namespace() {
        let (cfg, declared) = (config(TWO), declared());
        let of = |c: Change| environments_of(&cfg, &declared, &c);
        // A declared workload, its Pods and ReplicaSets, and anything `undeclared` judges there.
        assert_eq!(of(change("prod", "shop", "Deployment", "api")), ["production"]);
        assert_eq!(of(change("prod", "shop", "Pod", "api-5d8f7-x2x")), ["production"]);
        assert_eq!(
            of(change("prod", "payments", "ReplicaSet", "ledger-7c9")),
            ["production"]
        );
        assert_eq!(of(change("prod", "shop", "Deployment", "debug-shell")), ["production"]);
        // An Argo Rollout paused, promoted or aborted, like any workload of the namespace.
        assert_eq!(of(change("prod", "shop", "Rollout", "web")), ["production"]);
        // Elsewhere in the cluster: nothing.
        assert!(of(change("prod", "kube-system", "Pod", "coredns-x")).is_empty());
        assert!(of(change("prod", "monitoring", "DaemonSet", "node-exporter")).is_empty());
        // Configured namespaces are what an environment judges.
        assert_eq!(of(change("prod", "web", "Pod", "front-1")), ["web"]);
        // Another cluster's change concerns neither.
        assert!(of(change("stage", "shop", "Deployment", "api")).is_empty());
    }

    #[test]
    fn a_watcher_failing_or_an_environment_not_audited_yet_takes_every_change() {
        let cfg = config(TWO);
        let failing = change("prod", "", "ConfigMap", "");
        assert_eq!(environments_of(&cfg, &declared(), &failing), ["production", "web"]);
        let before_first_audit = DeclaredNamespaces::new();
        let elsewhere = change("prod", "kube-system", "Pod", "coredns-x");
        assert_eq!(environments_of(&cfg, &before_first_audit, &elsewhere), ["production"]);
    }
}
