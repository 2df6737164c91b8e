//! Helm releases at past commits, for the history walks (promotion lineage in
//! [`super::git_history`], DORA and deployment attribution in [`super::lineage`]): a release's
//! chart directory and values files read from a commit's tree (git2, no checkout) and rendered
//! by the built-in Helm engine as the audit renders them, hooks left out (they are not declared
//! workloads). A walk renders a release once per distinct input (the chart's tree, each values
//! file's blob), not once per commit. Blocking; callers use a blocking thread.
//!
//! Only releases whose chart is a directory of the repository are walked: a chart fetched from
//! a repository or registry is the config's, not the history's.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use lru::LruCache;
use serde_json::{Map, Value};

use crate::config::{ChartSource, ReleaseConfig};

/// Why a release's past renders cannot be known.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseHistoryError {
    /// The built-in engine leaves the chart to Helm.
    #[error(
        "helm release {release} at commit {commit}: the built-in Helm engine leaves it to helm ({reason}), so its history cannot be rendered"
    )]
    Unsupported {
        release: String,
        commit: String,
        reason: String,
    },
    /// git2's message only.
    #[error("{0}")]
    Git(String),
}

impl From<git2::Error> for ReleaseHistoryError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e.message().to_string())
    }
}

/// A release as the history walks render it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRelease {
    pub name: String,
    pub namespace: String,
    /// The chart directory, relative to the audited directory.
    pub chart: String,
    /// Relative to the audited directory, in order.
    pub values_files: Vec<String>,
    pub values: Map<String, Value>,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
}

impl HistoryRelease {
    /// The release as walked; `None` when its chart is not a directory of a repository (callers
    /// pass only the releases of the repository walked: `history_releases`), or when some of its
    /// values files are in another repository, whose history is not the walked one's.
    pub fn from_config(r: &ReleaseConfig) -> Option<Self> {
        let ChartSource::Path(chart) = &r.chart else {
            return None;
        };
        if r.values_files.iter().any(|f| r.values_file_elsewhere(f).is_some()) {
            return None;
        }
        Some(Self {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            chart: chart.clone(),
            values_files: r.values_files.clone(),
            values: r.values.clone(),
            kube_version: r.kube_version.clone(),
            api_versions: r.api_versions.clone(),
        })
    }
}

/// Distinct release inputs kept rendered during one walk.
const CACHE: usize = 1024;

/// Renders releases at commits, remembering each input's output for the walk.
pub struct ReleaseRenders {
    done: LruCache<String, Option<Arc<str>>>,
}

impl Default for ReleaseRenders {
    fn default() -> Self {
        Self {
            done: LruCache::new(NonZeroUsize::new(CACHE).expect("non-zero")),
        }
    }
}

/// Why one render at one commit gave no output.
enum Failed {
    /// The built-in engine leaves the chart to Helm: the walk cannot judge the release.
    Unsupported(String),
    /// The chart or a values file is absent, or Helm would fail too: the release declares
    /// nothing at that commit (the audit of that commit would have said why).
    Nothing,
}

impl ReleaseRenders {
    /// `release`'s `helm template` output at the commit `commit` (tree `tree`; `prefix` is the
    /// audited directory in the repository). `None`: it declares nothing there (no chart, a
    /// values file missing, or a render Helm fails as well). A chart the built-in engine
    /// leaves to Helm is an error: its digests cannot be known.
    pub fn render(
        &mut self,
        repo: &Repository,
        commit: Oid,
        tree: &git2::Tree,
        prefix: &str,
        release: &HistoryRelease,
    ) -> Result<Option<Arc<str>>, ReleaseHistoryError> {
        let at = |rel: &str| {
            if prefix.is_empty() {
                rel.to_string()
            } else {
                format!("{prefix}/{rel}")
            }
        };
        let Some(chart) = entry_id(tree, &at(&release.chart), ObjectType::Tree) else {
            return Ok(None);
        };
        let mut key = format!("{release:?}|{chart}");
        let mut values = Vec::new();
        for file in &release.values_files {
            let Some(blob) = entry_id(tree, &at(file), ObjectType::Blob) else {
                return Ok(None);
            };
            key.push_str(&format!("|{blob}"));
            values.push((file.clone(), blob));
        }
        if let Some(done) = self.done.get(&key) {
            return Ok(done.clone());
        }
        let out = match render(repo, chart, &values, release)? {
            Ok(text) => Some(Arc::<str>::from(text)),
            Err(Failed::Nothing) => None,
            Err(Failed::Unsupported(reason)) => {
                return Err(ReleaseHistoryError::Unsupported {
                    release: release.name.clone(),
                    commit: commit.to_string(),
                    reason,
                });
            }
        };
        self.done.put(key, out.clone());
        Ok(out)
    }
}

/// The id of the `kind` entry at `path` in `tree`.
fn entry_id(tree: &git2::Tree, path: &str, kind: ObjectType) -> Option<Oid> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    (entry.kind() == Some(kind)).then(|| entry.id())
}

/// The built-in engine's `helm template --no-hooks` for `release` with its chart at the tree
/// `chart` and its values files at `values` (path, blob).
fn render(
    repo: &Repository,
    chart: Oid,
    values: &[(String, Oid)],
    release: &HistoryRelease,
) -> Result<Result<String, Failed>, ReleaseHistoryError> {
    let files = chart_files(repo, chart)?;
    let mut values_files = Vec::with_capacity(values.len());
    for (path, blob) in values {
        values_files.push((path.clone(), repo.find_blob(*blob)?.content().to_vec()));
    }
    let rendered = (|| -> Result<String, helm::release::Error> {
        let chart = helm::chart::load_files(helm::chart::archive::dir_files(files)?)?;
        let user = helm::values::user_values(&values_files, std::slice::from_ref(&release.values))
            .map_err(|e| helm::release::Error::Render(e.to_string()))?;
        let opts = crate::sources::render::helm::template_options(
            &release.name,
            &release.namespace,
            release.kube_version.as_deref(),
            &release.api_versions,
        );
        let show = helm::Show {
            no_hooks: true,
            ..Default::default()
        };
        Ok(helm::template(chart, &user, &opts, show)?.output)
    })();
    Ok(rendered.map_err(|e| match e {
        helm::release::Error::Unsupported(what) => Failed::Unsupported(format!("uses {what}")),
        // The audit fetches what charts/ lacks; the walk reads the commit alone, and would
        // otherwise see the release declare nothing at every commit.
        helm::release::Error::Values(helm::values::render::PrepareError::Missing(missing)) => {
            Failed::Unsupported(format!("uses dependencies not vendored under charts/ ({missing})"))
        }
        _ => Failed::Nothing,
    }))
}

/// Every file below the tree `chart`: (path relative to it, bytes). Symbolic links are left
/// out, as a checkout's chart directory is read.
fn chart_files(repo: &Repository, chart: Oid) -> Result<Vec<(String, Vec<u8>)>, ReleaseHistoryError> {
    let tree = repo.find_tree(chart)?;
    let mut blobs = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() == Some(ObjectType::Blob)
            && entry.filemode() != 0o120000
            && let Ok(name) = entry.name()
        {
            blobs.push((format!("{root}{name}"), entry.id()));
        }
        TreeWalkResult::Ok
    })?;
    let mut out = Vec::with_capacity(blobs.len());
    for (path, blob) in blobs {
        out.push((path, repo.find_blob(blob)?.content().to_vec()));
    }
    Ok(out)
}
