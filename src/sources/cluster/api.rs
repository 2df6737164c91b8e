//! The paginated, read-only LIST calls of a live cluster through its kube client: eight
//! resource types (ten with ConfigMaps and Secrets), cluster-wide or per configured namespace;
//! never one call per workload.
//!
//! Argo Rollouts are listed from every cluster, without asking first whether it serves them:
//! asking (`GET /apis/argoproj.io/v1alpha1`) costs the same one request as the LIST, whose 404
//! says the same (no Rollout CRD: nothing to list, nothing to report). A 403 does not fail the
//! audit either: the comparison reports it for the environments that declare Rollouts.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::params::ListParams;
use serde::de::DeserializeOwned;

use super::{ClusterError, ListOptions};
use crate::config::{ClusterSource, CompareConfigMaps};
use crate::core::model::{ConfigListing, ConfigObject, WorkloadKind};
use crate::core::resolve::{ConfigMapRaw, ObjectList, Pod, RawObjects, SecretRaw, Workload};
use crate::error_chain;

/// What one LIST call fetches.
#[derive(Clone, Copy, Debug)]
enum Resource {
    Workload(WorkloadKind),
    /// Argo Rollouts: a CRD the cluster may not serve.
    Rollouts,
    Pods,
    ConfigMaps,
    Secrets,
}

/// The resources listed per namespace (or cluster-wide), with their API path. Secrets only
/// when an environment compares them.
const RESOURCES: [(Resource, &str, &str); 10] = [
    (
        Resource::Workload(WorkloadKind::Deployment),
        "/apis/apps/v1",
        "deployments",
    ),
    (
        Resource::Workload(WorkloadKind::StatefulSet),
        "/apis/apps/v1",
        "statefulsets",
    ),
    (
        Resource::Workload(WorkloadKind::DaemonSet),
        "/apis/apps/v1",
        "daemonsets",
    ),
    (
        Resource::Workload(WorkloadKind::ReplicaSet),
        "/apis/apps/v1",
        "replicasets",
    ),
    (Resource::Workload(WorkloadKind::Job), "/apis/batch/v1", "jobs"),
    (Resource::Workload(WorkloadKind::CronJob), "/apis/batch/v1", "cronjobs"),
    (Resource::Rollouts, "/apis/argoproj.io/v1alpha1", "rollouts"),
    (Resource::Pods, "/api/v1", "pods"),
    (Resource::ConfigMaps, "/api/v1", "configmaps"),
    (Resource::Secrets, "/api/v1", "secrets"),
];

/// At most this many LIST calls of one cluster are in flight at once.
const LIST_CONCURRENCY: usize = 4;

/// The client for a kubeconfig context or the in-cluster service account, with the audit's
/// timeout on connecting and reading.
pub async fn client(name: &str, source: &ClusterSource, timeout: Duration) -> Result<kube::Client, ClusterError> {
    let err = |reason: String| ClusterError::Config {
        cluster: name.to_string(),
        reason,
    };
    let mut config = match source {
        ClusterSource::InCluster => kube::Config::incluster().map_err(|e| err(e.to_string()))?,
        ClusterSource::Kubeconfig { path, context } => {
            let options = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            match path {
                Some(p) => {
                    let kc =
                        Kubeconfig::read_from(p).map_err(|e| err(format!("{}: {}", p.display(), error_chain(&e))))?;
                    kube::Config::from_custom_kubeconfig(kc, &options).await
                }
                None => kube::Config::from_kubeconfig(&options).await,
            }
            .map_err(|e| err(error_chain(&e)))?
        }
        ClusterSource::Snapshot(path) => {
            return Err(err(format!("{} is a snapshot file, not an API server", path.display())));
        }
    };
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.reset_reader_on_write = true;
    kube::Client::try_from(config).map_err(|e| err(error_chain(&e)))
}

/// Lists every audited resource, in every scope, at most `LIST_CONCURRENCY` calls at once.
pub async fn list_all(
    cluster: &str,
    client: &kube::Client,
    namespaces: Option<&[String]>,
    opts: ListOptions,
) -> Result<RawObjects, ClusterError> {
    let scopes: Vec<Option<&str>> = match namespaces {
        Some(list) => list.iter().map(|n| Some(n.as_str())).collect(),
        None => vec![None],
    };
    // The calls are built eagerly, with owned paths: a lazy iterator of closures over borrowed
    // tuples makes this future not provably Send (a rustc limitation), and the daemon spawns it.
    let mut calls = Vec::new();
    for ns in &scopes {
        for &(kind, prefix, plural) in RESOURCES
            .iter()
            .filter(|r| opts.secrets || !matches!(r.0, Resource::Secrets))
            .filter(|r| opts.configmaps != CompareConfigMaps::Never || !matches!(r.0, Resource::ConfigMaps))
        {
            let path = match ns {
                Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
                None => format!("{prefix}/{plural}"),
            };
            let client = client.clone();
            calls.push(async move {
                let listed = match kind {
                    Resource::Workload(_) => {
                        Listed::Workloads(list_paged::<Workload>(cluster, &client, &path, plural, opts).await?)
                    }
                    Resource::Rollouts => match list_paged::<Workload>(cluster, &client, &path, plural, opts).await {
                        Ok(items) => Listed::Workloads(items),
                        Err(e @ ClusterError::Forbidden { .. }) => Listed::RolloutsRefused(e.to_string()),
                        Err(ClusterError::Api { code: 404, .. }) => {
                            tracing::debug!(cluster, "no Argo Rollouts served (404): none listed");
                            Listed::Workloads(Vec::new())
                        }
                        Err(e) => return Err(e),
                    },
                    Resource::Pods => Listed::Pods(list_paged::<Pod>(cluster, &client, &path, plural, opts).await?),
                    Resource::ConfigMaps => {
                        match list_paged::<ConfigMapRaw>(cluster, &client, &path, plural, opts).await {
                            Ok(items) => Listed::Configs(items.into_iter().map(Into::into).collect()),
                            // A least-privilege reader: the workload audit goes on without config checks.
                            Err(e @ ClusterError::Forbidden { .. }) if opts.configmaps == CompareConfigMaps::Auto => {
                                Listed::ConfigsRefused(e.to_string())
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Resource::Secrets => {
                        let items = list_paged::<SecretRaw>(cluster, &client, &path, plural, opts).await?;
                        Listed::Configs(items.into_iter().map(Into::into).collect())
                    }
                };
                Ok::<_, ClusterError>((kind, listed))
            });
        }
    }
    let lists: Vec<(Resource, Listed)> = futures::stream::iter(calls)
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
    let mut raw = RawObjects::default();
    if opts.configmaps == CompareConfigMaps::Never {
        raw.config_listing = ConfigListing::Skipped;
    }
    for (kind, listed) in lists {
        match (kind, listed) {
            (Resource::Workload(k), Listed::Workloads(items)) => {
                raw.workloads.extend(items.into_iter().map(|w| (k, w)))
            }
            (Resource::Rollouts, Listed::Workloads(items)) => raw
                .workloads
                .extend(items.into_iter().map(|w| (WorkloadKind::Rollout, w))),
            (_, Listed::RolloutsRefused(reason)) => raw.rollouts_refused = Some(reason),
            (_, Listed::Pods(items)) => raw.pods.extend(items),
            (_, Listed::Configs(items)) => raw.configs.extend(items),
            (_, Listed::ConfigsRefused(reason)) => raw.config_listing = ConfigListing::Refused(reason),
            (_, Listed::Workloads(_)) => {}
        }
    }
    // Sorted so that owner resolution and reports do not depend on which call answered first.
    raw.workloads.sort_by(|a, b| {
        (a.0, &a.1.metadata.namespace, &a.1.metadata.name).cmp(&(b.0, &b.1.metadata.namespace, &b.1.metadata.name))
    });
    Ok(raw)
}

enum Listed {
    ConfigsRefused(String),
    RolloutsRefused(String),
    Workloads(Vec<Workload>),
    Pods(Vec<Pod>),
    Configs(Vec<ConfigObject>),
}

/// Follows `continue` tokens until the list is complete.
async fn list_paged<T: DeserializeOwned>(
    cluster: &str,
    client: &kube::Client,
    path: &str,
    resource: &str,
    opts: ListOptions,
) -> Result<Vec<T>, ClusterError> {
    let request = kube::core::Request::new(path);
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(opts.page_size);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let req = request.list(&lp).map_err(|e| ClusterError::Config {
            cluster: cluster.into(),
            reason: e.to_string(),
        })?;
        let page: ObjectList<T> = match tokio::time::timeout(opts.timeout, client.request(req)).await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return Err(classify(cluster, resource, e, opts.timeout)),
            Err(_) => {
                return Err(ClusterError::Timeout {
                    cluster: cluster.into(),
                    resource: resource.into(),
                    timeout: humantime::format_duration(opts.timeout).to_string(),
                });
            }
        };
        items.extend(page.items);
        match page.metadata.continue_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(items),
        }
    }
}

fn classify(cluster: &str, resource: &str, e: kube::Error, timeout: Duration) -> ClusterError {
    let (cluster, resource) = (cluster.to_string(), resource.to_string());
    match e {
        kube::Error::Api(status) if status.code == 403 => ClusterError::Forbidden {
            cluster,
            resource,
            message: status.message.clone(),
        },
        kube::Error::Api(status) => ClusterError::Api {
            cluster,
            resource,
            code: status.code,
            message: status.message.clone(),
        },
        other => {
            let reason = error_chain(&other);
            if reason.contains("timed out") || reason.contains("deadline") {
                ClusterError::Timeout {
                    cluster,
                    resource,
                    timeout: humantime::format_duration(timeout).to_string(),
                }
            } else {
                ClusterError::Unreachable {
                    cluster,
                    resource,
                    reason,
                }
            }
        }
    }
}
