//! Where facts come from: the GitOps repository and its history, rendered manifests, live
//! clusters and OCI registries. IO at the edge; everything is converted to [`crate::core`] types
//! before the pure code sees it.
//!
//! [`Sources`] holds what lasts across audits: a [`cluster::LiveSource`] (and its kube client)
//! per cluster, the registry client and the bounded caches. The daemon builds it at start and
//! again on reload; `--once` builds one for its single audit.

pub mod artifacts;
pub mod charts;
pub mod cluster;
pub mod discovery;
pub mod git;
pub mod git_history;
pub mod lineage;
pub mod registry;
pub mod release_history;
pub mod render;
pub mod signatures;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use tracing::warn;

use crate::config::{ClusterConfig, Config};
use cluster::LiveSource;
use git_history::HistoryCache;
use registry::{ManifestCache, RegistryClient};

/// The clients and caches audits share, built from one config.
pub struct Sources {
    clusters: HashMap<ClusterKey, LiveSource>,
    registry: Option<RegistryClient>,
    manifests: Arc<ManifestCache>,
    history: Arc<HistoryCache>,
    /// The last history walk for deployment attribution (one commit is audited many times).
    lineage: Arc<lineage::LineageCache>,
    renderer: render::Renderer,
    render_dir: Option<std::path::PathBuf>,
    /// With `[[policies.signatures]]`: the verdict cache.
    signatures: Option<signatures::SignatureChecks>,
    /// OCI artifacts paths are read from (Flux OCIRepositories).
    artifacts: artifacts::Artifacts,
}

/// Environments on the same cluster (same name and same connection) share one source.
type ClusterKey = (String, String);

fn cluster_key(cfg: &ClusterConfig) -> ClusterKey {
    (cfg.name.clone(), format!("{:?}", cfg.source))
}

impl Sources {
    /// Sources for `cfg` with empty caches of the default sizes.
    pub async fn new(cfg: &Config) -> Self {
        Self::with_caches(cfg, Arc::default(), Arc::default(), Arc::default(), None).await
    }

    /// Sources for one audit (`--once`): the render cache keeps nothing in memory, since no
    /// second audit will ask; renders persist on disk only.
    pub async fn for_one_audit(cfg: &Config) -> Self {
        let renders = cfg.render.cache.then(|| {
            Arc::new(render::cache::RenderCache::new(
                render_cache_dir(cfg),
                cfg.render.cache_max_bytes,
                0,
            ))
        });
        Self::with_caches(cfg, Arc::default(), Arc::default(), Arc::default(), renders).await
    }

    /// Sources for a reloaded `cfg`: clients are built anew, the caches (of content that
    /// never changes: manifests by digest, digests per commit) are kept.
    pub async fn reload(&self, cfg: &Config) -> Self {
        // The render cache is kept when it stays where it was: its keys hold everything that
        // decides an output (renderer version, engine, repository, path, inputs).
        let renders = (render_cache_dir(cfg) == self.render_dir)
            .then(|| self.renderer.cache())
            .flatten();
        Self::with_caches(
            cfg,
            self.manifests.clone(),
            self.history.clone(),
            self.lineage.clone(),
            renders,
        )
        .await
    }

    /// Sources for `cfg` using the given caches.
    pub async fn with_caches(
        cfg: &Config,
        manifests: Arc<ManifestCache>,
        history: Arc<HistoryCache>,
        lineage: Arc<lineage::LineageCache>,
        renders: Option<Arc<render::cache::RenderCache>>,
    ) -> Self {
        let mut clusters = HashMap::new();
        for env in &cfg.environments {
            if let Entry::Vacant(slot) = clusters.entry(cluster_key(&env.cluster)) {
                slot.insert(LiveSource::new(&env.cluster, cfg.audit.kube_timeout).await);
            }
        }
        // Only configured registries are asked; a client that cannot be built makes the checks
        // unverifiable rather than failing audits.
        let registry = (!cfg.registries.is_empty())
            .then(|| RegistryClient::new(&cfg.registries, manifests.clone()))
            .and_then(|r| r.map_err(|e| warn!(error = %e, "registry client unavailable")).ok());
        let render_dir = render_cache_dir(cfg);
        let renderer = renderer(cfg, renders);
        let signatures = (!cfg.policies.signatures.is_empty()).then(|| signatures::SignatureChecks::new(&cfg.store));
        let artifacts = artifacts(cfg);
        Self {
            clusters,
            registry,
            manifests,
            history,
            lineage,
            renderer,
            render_dir,
            signatures,
            artifacts,
        }
    }

    /// The OCI artifacts paths are read from.
    pub fn artifacts(&self) -> &artifacts::Artifacts {
        &self.artifacts
    }

    /// The signature checks, when a `[[policies.signatures]]` is configured.
    pub fn signatures(&self) -> Option<&signatures::SignatureChecks> {
        self.signatures.as_ref()
    }

    /// The live source of `cfg`'s cluster, when `cfg` was part of the config these were built
    /// from.
    pub fn cluster(&self, cfg: &ClusterConfig) -> Option<&LiveSource> {
        self.clusters.get(&cluster_key(cfg))
    }

    /// The registry client, when registries are configured.
    pub fn registry(&self) -> Option<&RegistryClient> {
        self.registry.as_ref()
    }

    pub fn manifests(&self) -> &Arc<ManifestCache> {
        &self.manifests
    }

    pub fn history(&self) -> &Arc<HistoryCache> {
        &self.history
    }

    pub fn lineage(&self) -> &Arc<lineage::LineageCache> {
        &self.lineage
    }

    /// Renders what environments declare, through the render cache.
    pub fn renderer(&self) -> &render::Renderer {
        &self.renderer
    }
}

/// The renderer for `cfg`: its render cache (`renders`, or a new one) and chart store under
/// [`render_cache_dir`].
pub fn renderer(cfg: &Config, renders: Option<Arc<render::cache::RenderCache>>) -> render::Renderer {
    let dir = render_cache_dir(cfg);
    let charts = charts::Charts::new(cfg, dir.as_ref().map(|d| d.join("charts")));
    render::Renderer::new(&cfg.render, dir, renders, charts)
}

/// The artifacts client for `cfg`, unpacking beside the render cache (under `artifacts`).
pub fn artifacts(cfg: &Config) -> artifacts::Artifacts {
    artifacts::Artifacts::new(cfg, render_cache_dir(cfg).map(|d| d.join("artifacts")))
}

/// Where rendered overlays persist: `[render] cache_dir`; else, for a cloned repository, a
/// `render-cache` directory beside its clone (`/var/lib/driftwatch/render-cache` by default);
/// else the user's cache directory (`$XDG_CACHE_HOME` or `~/.cache`, then `driftwatch/render`);
/// `None` (memory only) when none is known.
pub fn render_cache_dir(cfg: &Config) -> Option<std::path::PathBuf> {
    if let Some(dir) = &cfg.render.cache_dir {
        return Some(dir.clone());
    }
    if let crate::config::GitopsConfig::Remote { cache_dir, .. } = &cfg.gitops {
        return Some(cache_dir.parent().unwrap_or(cache_dir).join("render-cache"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("driftwatch").join("render"))
}
