//! Reading Flux's objects, for [`super::flux`] to map: the Flux manifests committed in the
//! `[gitops]` repository (`[discovery.flux] paths`) and one LIST per kind from the cluster Flux
//! runs in (Kustomization, HelmRelease, GitRepository, OCIRepository, HelmRepository,
//! HelmChart), then one GET per ConfigMap or Secret their `substituteFrom`/`valuesFrom` name. A
//! kind that cannot be listed is an error naming the RBAC rule to grant (the rest is mapped); a
//! ConfigMap or Secret that cannot be read is said by the path or release that needs it. What a
//! Secret holds is never logged nor put in an error.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

use super::flux::{self, Key, Read};
use super::{Discovery, DiscoveryError, MappedFrom};
use crate::config::{ClusterConfig, Config, FluxConfig};
use crate::sources::git;

/// A Flux kind: its group, the versions tried in order (a cluster that does not serve the first
/// may serve an older one), the kind and its plural.
pub(crate) struct Kind {
    pub group: &'static str,
    pub versions: &'static [&'static str],
    pub kind: &'static str,
    pub plural: &'static str,
}

pub(crate) const KUSTOMIZATION: Kind = Kind {
    group: "kustomize.toolkit.fluxcd.io",
    versions: &["v1", "v1beta2"],
    kind: "Kustomization",
    plural: "kustomizations",
};

pub(crate) const HELM_RELEASE: Kind = Kind {
    group: "helm.toolkit.fluxcd.io",
    versions: &["v2", "v2beta2"],
    kind: "HelmRelease",
    plural: "helmreleases",
};

/// What sourceRefs and chartRefs resolve to.
const SOURCES: [Kind; 4] = [
    Kind {
        group: "source.toolkit.fluxcd.io",
        versions: &["v1", "v1beta2"],
        kind: "GitRepository",
        plural: "gitrepositories",
    },
    Kind {
        group: "source.toolkit.fluxcd.io",
        versions: &["v1", "v1beta2"],
        kind: "OCIRepository",
        plural: "ocirepositories",
    },
    Kind {
        group: "source.toolkit.fluxcd.io",
        versions: &["v1", "v1beta2"],
        kind: "HelmRepository",
        plural: "helmrepositories",
    },
    Kind {
        group: "source.toolkit.fluxcd.io",
        versions: &["v1", "v1beta2"],
        kind: "HelmChart",
        plural: "helmcharts",
    },
];

/// A Kustomization or HelmRelease as read, and where from.
struct Found {
    doc: Value,
    origin: String,
    live: bool,
}

/// What the configured places hold.
#[derive(Default)]
struct Held {
    deployers: Vec<Found>,
    sources: BTreeMap<Key, Value>,
    /// Files that could not be read (the others are).
    errors: Vec<DiscoveryError>,
}

/// Reads `[discovery.flux]`'s places and maps every Kustomization and HelmRelease found.
pub(super) async fn discover(cfg: &Config, fx: &FluxConfig, d: &mut Discovery) -> Vec<MappedFrom> {
    let mut read = Held::default();
    if !fx.paths.is_empty() {
        match from_git(cfg, fx).await {
            Ok(git) => {
                read.deployers.extend(git.deployers);
                read.sources.extend(git.sources);
                d.errors.extend(git.errors);
            }
            Err(e) => d.errors.push(e),
        }
    }
    let mut objects = BTreeMap::new();
    if let Some(cluster) = &fx.cluster {
        match client(cluster, cfg.audit.kube_timeout).await {
            Ok(client) => {
                let live = from_cluster(&client, cluster, fx, &mut d.errors).await;
                // A live object replaces the one of the same name found in git.
                let listed: std::collections::BTreeSet<Key> =
                    live.deployers.iter().map(|f| flux::key(&f.doc)).collect();
                read.deployers.retain(|g| !listed.contains(&flux::key(&g.doc)));
                read.deployers.extend(live.deployers);
                read.sources.extend(live.sources);
                let refs: std::collections::BTreeSet<Key> =
                    read.deployers.iter().flat_map(|f| flux::object_refs(&f.doc)).collect();
                use futures::StreamExt as _;
                let reads = refs.into_iter().map(|r| {
                    let client = &client;
                    async move {
                        let got = object(client, &r).await;
                        (r, got)
                    }
                });
                objects.extend(
                    futures::stream::iter(reads)
                        .buffer_unordered(8)
                        .collect::<Vec<_>>()
                        .await,
                );
            }
            Err(e) => d.errors.push(e),
        }
    }
    let mut out = Vec::new();
    for f in read.deployers {
        let cx = flux::Context {
            environment_from: &fx.environment_from,
            destinations: &cfg.discovery.clusters,
            cluster: fx.cluster.as_ref(),
            sources: &read.sources,
            objects: &objects,
            live: f.live,
        };
        match flux::map(&f.doc, &cx) {
            Ok(m) => out.push(MappedFrom {
                mapped: m,
                origin: f.origin,
                source: "flux",
            }),
            Err(u) => d.unmapped.push(u),
        }
    }
    out
}

/// The Flux objects in the files `paths` selects in the `[gitops]` repository.
async fn from_git(cfg: &Config, fx: &FluxConfig) -> Result<Held, DiscoveryError> {
    let (gitops, patterns) = (cfg.gitops.clone(), fx.paths.clone());
    tokio::task::spawn_blocking(move || {
        let checkout = git::sync(&gitops).map_err(DiscoveryError::FluxGit)?;
        let mut out = Held::default();
        for (doc, rel) in super::manifests(&checkout.dir, &patterns, &mut out.errors) {
            let mut doc = doc;
            // `flux bootstrap` writes objects without a namespace into flux-system's files.
            if doc["metadata"]["namespace"].as_str().is_none_or(str::is_empty) {
                doc["metadata"]["namespace"] = "flux-system".into();
            }
            if flux::is_deployer(&doc) {
                out.deployers.push(Found {
                    doc,
                    origin: format!("git {rel}"),
                    live: false,
                });
            } else if flux::is_source(&doc) {
                out.sources.insert(flux::key(&doc), doc);
            }
        }
        Ok(out)
    })
    .await
    .map_err(DiscoveryError::Task)?
}

async fn client(cluster: &ClusterConfig, timeout: Duration) -> Result<kube::Client, DiscoveryError> {
    crate::sources::cluster::api::client(&cluster.name, &cluster.source, timeout)
        .await
        .map_err(|source| DiscoveryError::FluxCluster {
            cluster: cluster.name.clone(),
            source,
        })
}

/// The Api of `kind` at `version` (in `[discovery.flux] namespace`, or all).
pub(crate) fn api(client: kube::Client, kind: &Kind, version: &str, fx: &FluxConfig) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: kind.group.into(),
        version: version.into(),
        api_version: format!("{}/{version}", kind.group),
        kind: kind.kind.into(),
        plural: kind.plural.into(),
    };
    match &fx.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    }
}

/// One LIST per kind; each kind that cannot be listed is an error, the others are read.
async fn from_cluster(
    client: &kube::Client,
    cluster: &ClusterConfig,
    fx: &FluxConfig,
    errors: &mut Vec<DiscoveryError>,
) -> Held {
    let mut out = Held::default();
    // Side by side: the apiserver's time serializing the Kustomizations is most of it, and the
    // kinds whose CRD is not installed answer 404 meanwhile.
    let deployers = [&KUSTOMIZATION, &HELM_RELEASE].map(|kind| list(client, cluster, kind, fx, true));
    let sources = SOURCES.each_ref().map(|kind| list(client, cluster, kind, fx, false));
    let (deployers, sources) = futures::join!(futures::future::join_all(deployers), futures::future::join_all(sources));
    for listed in deployers {
        match listed {
            Ok(docs) => out.deployers.extend(docs.into_iter().map(|doc| Found {
                doc,
                origin: format!("cluster {}", cluster.name),
                live: true,
            })),
            Err(e) => errors.push(e),
        }
    }
    for listed in sources {
        // A source kind whose CRD is not installed (no OCIRepository) holds nothing.
        match listed {
            Ok(docs) => out.sources.extend(docs.into_iter().map(|d| (flux::key(&d), d))),
            Err(e) => errors.push(e),
        }
    }
    out
}

/// The objects of `kind`, at the first version the cluster serves; the label selector applies
/// to Kustomizations and HelmReleases (`selected`), not to the sources they name. Served from
/// the apiserver's watch cache (`resourceVersion=0`), not read through from etcd: on a real
/// kube-apiserver v1.26 a LIST of 2,000 Kustomizations took 0.59 s read through and 0.17 s
/// from the cache (docs/benchmarks.md), and Flux's own view of them is as old as its interval.
async fn list(
    client: &kube::Client,
    cluster: &ClusterConfig,
    kind: &Kind,
    fx: &FluxConfig,
    selected: bool,
) -> Result<Vec<Value>, DiscoveryError> {
    let failed = |reason: String| DiscoveryError::FluxList {
        kind: kind.kind,
        cluster: cluster.name.clone(),
        reason,
    };
    let mut params = ListParams::default().match_any();
    if let (true, Some(s)) = (selected, &fx.selector) {
        params = params.labels(s);
    }
    for version in kind.versions {
        match api(client.clone(), kind, version, fx).list(&params).await {
            Ok(list) => {
                return Ok(list
                    .items
                    .into_iter()
                    .filter_map(|o| serde_json::to_value(o).ok())
                    .map(|mut doc| {
                        doc["kind"] = kind.kind.into();
                        doc["apiVersion"] = format!("{}/{version}", kind.group).into();
                        doc
                    })
                    .collect());
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(failed(format!("forbidden: {} ({})", s.message, grant(kind, fx))));
            }
            Err(other) => return Err(failed(crate::error_chain(&other))),
        }
    }
    Ok(Vec::new())
}

/// The rule a 403 on listing `kind` asks for, where it must be granted.
fn grant(kind: &Kind, fx: &FluxConfig) -> String {
    let rule = format!(
        r#"apiGroups: ["{}"], resources: ["{}"], verbs: ["get", "list", "watch"]"#,
        kind.group, kind.plural
    );
    match &fx.namespace {
        Some(ns) => format!(
            "add the rule {{{rule}}} to a Role in namespace {ns} bound to driftwatch's identity: deploy/components/flux"
        ),
        None => format!(
            "add the rule {{{rule}}} to a ClusterRole bound to driftwatch's identity (Flux objects are listed in all namespaces): deploy/components/flux, or set discovery.flux.namespace"
        ),
    }
}

/// One ConfigMap or Secret a Flux object reads variables or values from. A Secret's values are
/// decoded here and go no further than the config they are rendered with.
async fn object(client: &kube::Client, (kind, ns, name): &Key) -> Read {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let refused = |e: kube::Error| match e {
        kube::Error::Api(s) if s.code == 403 => Read::Refused(if kind == "Secret" {
            format!(
                "forbidden: grant get on secrets in namespace {ns} to driftwatch's identity (deploy/components/flux-secrets)"
            )
        } else {
            format!(
                "forbidden: grant get on configmaps in namespace {ns} to driftwatch's identity (deploy/rbac.yaml's driftwatch-reader has it)"
            )
        }),
        other => Read::Refused(format!("cannot be read: {}", crate::error_chain(&other))),
    };
    if kind == "Secret" {
        return match Api::<Secret>::namespaced(client.clone(), ns).get_opt(name).await {
            Ok(Some(s)) => Read::Data(
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
            ),
            Ok(None) => Read::NotFound,
            Err(e) => refused(e),
        };
    }
    match Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(name).await {
        Ok(Some(c)) => Read::Data(c.data.unwrap_or_default().into_iter().collect()),
        Ok(None) => Read::NotFound,
        Err(e) => refused(e),
    }
}
