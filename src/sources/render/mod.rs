//! What git declares for one environment: selects the environment's paths in the checkout with
//! the one matcher ([`crate::core::paths`]), renders each with the renderer chosen for it
//! ([`plain`] files as they are; a kustomization with the built-in renderer (the [`kustomize`]
//! crate, pure, in `crates/kustomize`), or the external
//! kustomize ([`kustomize_exec`]) when configured, when the built-in one leaves the overlay to
//! it, or when the built-in one fails on it: kustomize, not the built-in renderer, decides
//! whether an overlay builds) and hands the documents to [`crate::core::manifest`]. Kustomize renders go through the
//! [`cache`], keyed by what each build read ([`files`]). A new renderer is one more file here
//! plus one arm in `choose`.

pub mod cache;
pub mod files;
pub mod helm;
pub mod helm_exec;
pub mod kustomize_exec;
pub mod kustomize_helm;
pub mod overrides;
pub mod plain;
pub mod sourceignore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{OnceCell, Semaphore};

use crate::config::{
    DirectoryConfig, Engine, EnvironmentConfig, KustomizeOverrides, PathConfig, RenderConfig, Renderer as PathRenderer,
};
use crate::core::manifest::{self, Origin};
use crate::core::model::{DeclaredState, PathRender, SkippedPath};
use crate::core::paths::PathPattern;
use cache::{Entry, RenderCache};
use files::Files;

/// A repository snapshot the renderers read, shared by the environments of one audit.
pub type SharedFiles = Arc<dyn Files + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("path {pattern:?} matches nothing in the repository")]
    NoMatch { pattern: String },
    #[error("kustomize {path}: {reason}")]
    Kustomize { path: String, reason: String },
    #[error("kustomize is not installed: {command:?} not found (set render.kustomize to its path)")]
    KustomizeMissing { command: String },
    #[error(
        "kustomize {path}: the built-in renderer leaves this overlay to the external kustomize ({reason}), which is not installed: {command:?} not found (set render.kustomize to its path)"
    )]
    FallbackMissing {
        path: String,
        reason: String,
        command: String,
    },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("helm release {release}: {reason}")]
    Helm { release: String, reason: String },
    #[error("helm release {release}: {source}")]
    Chart {
        release: String,
        #[source]
        source: Box<crate::sources::charts::ChartError>,
    },
    #[error(
        "helm release {release}: engine = \"external\" renders it with helm, which is not installed: {command:?} not found (set render.helm to its path)"
    )]
    HelmMissing { release: String, command: String },
    #[error(
        "helm release {release}: the built-in Helm engine leaves this release to helm ({reason}), which is not installed: {command:?} not found (set render.helm to its path)"
    )]
    HelmFallbackMissing {
        release: String,
        reason: String,
        command: String,
    },
}

/// One rendered text (YAML or JSON documents) and the repository file it is attributed to; or
/// why that file could not be read.
pub struct Rendered {
    pub file: String,
    pub content: Result<String, Unreadable>,
}

/// Why a manifest file could not be read: that file's problem, the rest of the path is read.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("not UTF-8 (invalid byte at offset {offset}); save the file as UTF-8")]
    NotUtf8 { offset: usize },
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
}

/// The external kustomize could not be run for its version: the command that was not found (or
/// why it failed), said as "not installed" by the caller.
#[derive(Clone, Debug)]
struct NoExternal(String);

/// Why an overlay is rendered by the external kustomize.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Handoff {
    /// `engine = "external"`.
    Configured,
    /// The built-in renderer leaves the overlay to kustomize (its reason).
    Unsupported(String),
    /// The built-in renderer failed on the overlay (its reason). kustomize is the judge: what it
    /// renders is used; when it fails too its error is the overlay's, and without it the
    /// built-in renderer's error is.
    BuiltinFailed(String),
}

impl Handoff {
    /// The renderer named in reports (`external`, `external: uses helmCharts`, `external:
    /// built-in renderer failed: …`).
    fn renderer(&self) -> String {
        match self {
            Self::Configured => "external".into(),
            Self::Unsupported(reason) => format!("external: {reason}"),
            Self::BuiltinFailed(reason) => format!("external: built-in renderer failed: {reason}"),
        }
    }

    /// The overlay's error when the external kustomize is not installed (`command`).
    fn missing(&self, path: &str, command: String) -> RenderError {
        match self {
            Self::Configured => RenderError::KustomizeMissing { command },
            Self::Unsupported(reason) => RenderError::FallbackMissing {
                path: path.into(),
                reason: reason.clone(),
                command,
            },
            Self::BuiltinFailed(reason) => RenderError::Kustomize {
                path: path.into(),
                reason: reason.clone(),
            },
        }
    }
}

/// How one selected path is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    Plain,
    Kustomize,
    /// A Helm chart: not read (its templates are not manifests), said as a finding.
    Chart,
}

/// The renderer for `path`: the configured one, or with `auto` kustomize for a directory
/// holding a kustomization and plain files otherwise. A Helm chart is not read as plain files.
fn choose(renderer: PathRenderer, path: &Path) -> Choice {
    // A Helm environment's paths (beside its releases) are read as with `auto`.
    let renderer = match renderer {
        PathRenderer::Helm => PathRenderer::Auto,
        other => other,
    };
    match renderer {
        PathRenderer::Kustomize => Choice::Kustomize,
        PathRenderer::Auto if path.is_dir() && kustomize_exec::is_kustomization(path) => Choice::Kustomize,
        PathRenderer::Auto | PathRenderer::Plain if path.is_dir() && plain::is_chart(path) => Choice::Chart,
        PathRenderer::Auto | PathRenderer::Plain | PathRenderer::Helm => Choice::Plain,
    }
}

/// What a Helm chart path says: it is not audited until rendered with Helm.
const CHART: &str = "a Helm chart: use renderer = \"helm\"";

/// One path a pattern selected: the directory or file, its default namespace, and the
/// `paths` entry that selected it.
struct Selected<'a> {
    path: PathBuf,
    namespace: &'a str,
    entry: &'a PathConfig,
}

/// Whether a glob's matched files are read: only when its last component names manifest
/// files (`deploy/*.yaml`); a glob otherwise selects directories (`*/` is not `README.md`).
fn reads_files(pattern: &str) -> bool {
    let last = pattern.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let glob = |c: &str| c.contains(['*', '?', '[']);
    !glob(pattern) || (!pattern.ends_with('/') && [".yaml", ".yml", ".json"].iter().any(|e| last.ends_with(e)))
}

/// Renders kustomizations and keeps what lasts across audits: the render cache and the
/// external kustomize's version. Held by [`crate::sources::Sources`].
pub struct Renderer {
    cfg: RenderConfig,
    cache: Option<Arc<RenderCache>>,
    external_version: OnceCell<Result<String, NoExternal>>,
    /// External kustomize and `helm` runs at once, across environments: one per core (each is
    /// a process of its own; more only queue for the CPU and add memory).
    external_slots: Semaphore,
    /// `helm version`, asked once (part of external Helm renders' cache keys).
    helm_version: OnceCell<Result<String, NoExternal>>,
    /// Charts from Helm repositories and registries, for releases.
    charts: crate::sources::charts::Charts,
}

/// The snapshot a render reads: its files, the checkout on disk, the repository's name.
struct Place<'a> {
    files: &'a SharedFiles,
    root: &'a Path,
    repo: &'a str,
}

/// One kustomization's output.
struct Output {
    entry: Arc<Entry>,
    cached: bool,
}

/// How many entries the in-memory render cache keeps when there is no disk cache: a
/// 4,000-overlay fleet fits. With a disk cache, nothing is kept in memory: rendered documents
/// are large (about 20 KB per overlay as JSON values), a full audit reads 4,000 entries from disk
/// in well under a second, and re-audits after a watched change reuse what each environment
/// declared without asking the cache at all.
pub const MEMORY_ENTRIES: usize = 20_000;

impl Renderer {
    /// A renderer for `cfg`, caching (when on) in `cache` or a new cache under `cache_dir`.
    pub fn new(
        cfg: &RenderConfig,
        cache_dir: Option<PathBuf>,
        cache: Option<Arc<RenderCache>>,
        charts: crate::sources::charts::Charts,
    ) -> Self {
        let cache = cfg.cache.then(|| {
            cache.unwrap_or_else(|| {
                let memory = if cache_dir.is_some() { 0 } else { MEMORY_ENTRIES };
                Arc::new(RenderCache::new(cache_dir, cfg.cache_max_bytes, memory))
            })
        });
        Self {
            cfg: cfg.clone(),
            cache,
            external_version: OnceCell::new(),
            external_slots: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            helm_version: OnceCell::new(),
            charts,
        }
    }

    /// The cache, to hand to the renderer of a reloaded config.
    pub fn cache(&self) -> Option<Arc<RenderCache>> {
        self.cache.clone()
    }

    /// Bounds the on-disk cache; after an audit.
    pub fn prune(&self) {
        if let Some(c) = &self.cache {
            c.prune();
        }
        self.charts.prune();
    }

    /// Renders every path and Helm release of `env` in `files` (the checkout at `root`; `repo`
    /// names the repository in cache keys; `kube_version` is the cluster's, for releases that
    /// name none). Paths and releases that fail to render are named in the returned errors and
    /// in `failed_paths`; everything that did render is in the state.
    pub async fn render(
        &self,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        env: &EnvironmentConfig,
        kube_version: Option<&str>,
    ) -> (DeclaredState, Vec<RenderError>) {
        let mut state = DeclaredState::default();
        let mut errors = Vec::new();
        let selected = select(root, env, &mut state, &mut errors);
        // The environment's `engine`, else `[render] engine`.
        let engine = env.engine.unwrap_or(self.cfg.engine);
        // Overlays render side by side (the built-in renderer on blocking threads); results
        // are taken in path order.
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        enum Out {
            Kustomize(Result<Output, RenderError>),
            Plain(Result<plain::Read, RenderError>),
            Chart,
        }
        // Collected before streaming: a lazy `map` over references makes the future not
        // provably Send (a rustc limitation), and the daemon spawns audits.
        let renders: Vec<_> = selected
            .iter()
            .map(|sel| async move {
                let rel = relative(root, &sel.path);
                let out = match choose(sel.entry.renderer.unwrap_or(env.renderer), &sel.path) {
                    Choice::Kustomize => Out::Kustomize(self.entry(files, root, repo, &rel, engine, sel.entry).await),
                    Choice::Plain => Out::Plain(
                        plain::render(root, &sel.path, &rel)
                            .await
                            .map(|read| only_selected(read, &rel, &sel.entry.directory)),
                    ),
                    Choice::Chart => Out::Chart,
                };
                (rel, sel, out)
            })
            .collect();
        // Taken one by one as they finish, in order: each output is dropped once extracted, so
        // memory holds a few renders, not the environment's.
        let mut rendered = futures::stream::iter(renders).buffered(parallel);
        while let Some((rel, sel, out)) = rendered.next().await {
            let record = |renderer: &str, cached: bool| PathRender {
                path: rel.clone(),
                renderer: renderer.to_string(),
                cached,
            };
            match out {
                Out::Kustomize(Ok(out)) => match extract_built(&rel, sel, &out.entry.docs, &mut state) {
                    Ok(()) => state.renders.push(record(&out.entry.renderer, out.cached)),
                    Err(e) => {
                        state.failed_paths.push(rel);
                        errors.push(e);
                    }
                },
                Out::Plain(Ok((outputs, foreign))) => {
                    for (dir, kind) in foreign {
                        state.skipped.push(not_read(dir, kind, &rel, sel.namespace));
                    }
                    for out in outputs {
                        let origin = Origin {
                            file: &out.file,
                            source: &rel,
                            default_namespace: sel.namespace,
                            helm: None,
                        };
                        match &out.content {
                            Ok(text) => manifest::extract_text(text, origin, &mut state),
                            Err(reason) => manifest::unreadable(origin, &reason.to_string(), &mut state),
                        }
                    }
                    state.renders.push(record("plain", false));
                }
                Out::Chart => state
                    .skipped
                    .push(not_read(rel.clone(), plain::Foreign::Chart, &rel, sel.namespace)),
                Out::Kustomize(Err(e)) | Out::Plain(Err(e)) => {
                    state.failed_paths.push(rel);
                    errors.push(e);
                }
            }
        }
        if !env.releases.is_empty() {
            let at = Place { files, root, repo };
            self.releases(&at, env, kube_version, &mut state, &mut errors).await;
        }
        (state, errors)
    }

    /// The kustomization in `rel`: from the cache when nothing it read changed, else rendered
    /// with the configured engine (the built-in one handing what it does not support, and what
    /// it fails on, to the external kustomize, with the reason).
    async fn kustomization(
        &self,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        rel: &str,
        engine: Engine,
    ) -> Result<Output, RenderError> {
        if engine == Engine::External {
            return self.external(files, root, repo, rel, Handoff::Configured).await;
        }
        // `helmCharts:` render with the built-in Helm engine: its version is part of the output.
        let key = cache::key(&[kustomize::VERSION, ::helm::VERSION, repo, rel]);
        // Cache lookups and stores touch the disk, and the build is CPU work: a blocking thread.
        let (f, dir, cache) = (files.clone(), rel.to_string(), self.cache.clone());
        let built = tokio::task::spawn_blocking(move || {
            if let Some(hit) = cache.as_ref().and_then(|c| c.lookup(&key, f.as_ref())) {
                return Ok(Output {
                    entry: hit,
                    cached: true,
                });
            }
            kustomize::build_with(f.as_ref(), &dir, Some(&kustomize_helm::BuiltinHelm)).map(|build| {
                let entry = Entry {
                    deps: build.deps,
                    renderer: "builtin".into(),
                    docs: build.docs,
                    templates: Vec::new(),
                };
                let entry = match &cache {
                    Some(c) => c.store(&key, entry),
                    None => Arc::new(entry),
                };
                Output { entry, cached: false }
            })
        })
        .await
        .map_err(|e| RenderError::Kustomize {
            path: rel.into(),
            reason: format!("built-in renderer failed: {e}"),
        })?;
        let handoff = match built {
            Ok(out) => return Ok(out),
            Err(kustomize::BuildError::Unsupported(reason)) => Handoff::Unsupported(reason),
            // The built-in renderer is not the judge of an overlay kustomize builds.
            Err(kustomize::BuildError::Invalid(reason)) => Handoff::BuiltinFailed(reason),
        };
        self.external(files, root, repo, rel, handoff).await
    }

    /// The kustomization in `rel`, with the overrides its `paths` entry gives, if any.
    async fn entry(
        &self,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        rel: &str,
        engine: Engine,
        entry: &PathConfig,
    ) -> Result<Output, RenderError> {
        match &entry.kustomize {
            // Flux's overlay with nothing to add on a directory that has its kustomization: the
            // kustomization as it is (any engine renders it).
            Some(o) if overrides::adds_nothing(files.as_ref(), rel, o) => {
                self.kustomization(files, root, repo, rel, engine).await
            }
            None => self.kustomization(files, root, repo, rel, engine).await,
            Some(o) => self.overridden(files, root, repo, rel, engine, o).await,
        }
    }

    /// The kustomization in `rel` edited as an Argo CD Application's `kustomize` overrides say,
    /// then built. Only the built-in renderer reads the edit (the external kustomize reads the
    /// directory on disk), so an overlay it leaves to kustomize is an error rather than a
    /// render without the overrides.
    async fn overridden(
        &self,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        rel: &str,
        engine: Engine,
        o: &KustomizeOverrides,
    ) -> Result<Output, RenderError> {
        let unsupported = |reason: String| RenderError::Kustomize {
            path: rel.into(),
            reason,
        };
        if engine == Engine::External {
            return Err(unsupported(
                "the kustomize overrides (an Argo CD Application's, a Flux Kustomization's) are applied by the built-in renderer only: set engine = \"builtin\"".into(),
            ));
        }
        let edited = overrides::edit(files, rel, o).map_err(|e| unsupported(e.to_string()))?;
        // The edit is part of what is rendered: part of the cache key too.
        let repo = format!("{repo}#{}", cache::key(&[&format!("{o:?}")]));
        let out = self.kustomization(&edited, root, &repo, rel, engine).await?;
        if out.entry.renderer.starts_with("external") {
            return Err(unsupported(format!(
                "the kustomize overrides (an Argo CD Application's, a Flux Kustomization's) are applied by the built-in renderer only, which leaves this overlay to kustomize ({})",
                out.entry.renderer
            )));
        }
        Ok(out)
    }

    /// `rel` rendered by the external kustomize, for the reason `handoff`.
    async fn external(
        &self,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        rel: &str,
        handoff: Handoff,
    ) -> Result<Output, RenderError> {
        let renderer = handoff.renderer();
        let missing = |command: String| handoff.missing(rel, command);
        let version = self
            .external_version
            .get_or_init(|| async {
                kustomize_exec::version(&self.cfg).await.map_err(|e| match e {
                    RenderError::KustomizeMissing { command } => NoExternal(command),
                    other => NoExternal(other.to_string()),
                })
            })
            .await
            .clone();
        let version = version.map_err(|NoExternal(command)| missing(command))?;
        let key = cache::key(&["external", &version, repo, rel]);
        if let Some(hit) = self.lookup(&key, files) {
            // The reason is this run's: a cached external render serves both engines.
            let mut entry = (*hit).clone();
            entry.renderer = renderer;
            return Ok(Output {
                entry: Arc::new(entry),
                cached: true,
            });
        }
        let slot = self.external_slots.acquire().await;
        let text = match kustomize_exec::render(&root.join(rel), rel, &self.cfg).await {
            Ok(mut out) => out.pop().and_then(|r| r.content.ok()).unwrap_or_default(),
            Err(RenderError::KustomizeMissing { command }) => return Err(missing(command)),
            Err(e) => return Err(e),
        };
        drop(slot);
        let (docs, err) = safe_yaml::documents(&text);
        if let Some(e) = err {
            return Err(RenderError::Kustomize {
                path: rel.into(),
                reason: format!("output is not YAML: {e}"),
            });
        }
        let deps = if self.cache.is_some() {
            let (f, dir) = (files.clone(), rel.to_string());
            tokio::task::spawn_blocking(move || kustomize_exec::inputs(f.as_ref(), &dir))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let entry = Entry {
            deps: deps.clone().unwrap_or_default(),
            renderer,
            docs,
            templates: Vec::new(),
        };
        let entry = match deps {
            Some(_) => self.keep(&key, entry),
            // Reaches outside the repository: not cacheable.
            None => Arc::new(entry),
        };
        Ok(Output { entry, cached: false })
    }

    fn lookup(&self, key: &str, files: &SharedFiles) -> Option<Arc<Entry>> {
        self.cache.as_ref()?.lookup(key, files.as_ref())
    }

    fn keep(&self, key: &str, entry: Entry) -> Arc<Entry> {
        match &self.cache {
            Some(c) => c.store(key, entry),
            None => Arc::new(entry),
        }
    }

    /// [`keep`](Self::keep) for a render that holds secrets: in memory only, never on disk.
    fn keep_in_memory(&self, key: &str, entry: Entry) -> Arc<Entry> {
        match &self.cache {
            Some(c) => c.store_in_memory(key, entry),
            None => Arc::new(entry),
        }
    }
}

/// The paths `env`'s patterns select below `root`, each with its default namespace. A pattern
/// matching nothing is an error; files a directory glob matches are named, not read.
fn select<'a>(
    root: &Path,
    env: &'a EnvironmentConfig,
    state: &mut DeclaredState,
    errors: &mut Vec<RenderError>,
) -> Vec<Selected<'a>> {
    let mut selected = Vec::new();
    for p in &env.paths {
        let text = &p.pattern;
        // Config validation rejects invalid patterns; one that slips through is this path's error.
        let matches = PathPattern::new(text)
            .map_err(|e| RenderError::Io {
                path: text.clone(),
                reason: e.to_string(),
            })
            .map(|pattern| expand(root, &pattern));
        let mut m = match matches {
            Ok(m) if m.is_empty() => {
                state.failed_paths.push(text.clone());
                errors.push(RenderError::NoMatch { pattern: text.clone() });
                continue;
            }
            Ok(m) => m,
            Err(e) => {
                state.failed_paths.push(text.clone());
                errors.push(e);
                continue;
            }
        };
        if !reads_files(text) {
            let files: Vec<String> = m.iter().filter(|f| !f.is_dir()).map(|f| relative(root, f)).collect();
            m.retain(|f| f.is_dir());
            if !files.is_empty() {
                state.skipped.push(SkippedPath {
                    path: text.clone(),
                    source: text.clone(),
                    reason: format!(
                        "paths select directories: the glob {text:?} also matches files, which are not read: {}; name a file without wildcards (or end the glob in .yaml) to read it",
                        files.join(", ")
                    ),
                    namespace: None,
                });
            }
        }
        let namespace = p.namespace.as_deref().unwrap_or(&env.namespace);
        selected.extend(m.into_iter().map(|path| Selected {
            path,
            namespace,
            entry: p,
        }));
    }
    selected
}

/// The files of a plain directory its `directory` settings select (Argo CD's `recurse`,
/// `include`, `exclude`, on paths relative to the directory).
fn only_selected((outputs, foreign): plain::Read, rel: &str, dir: &DirectoryConfig) -> plain::Read {
    if *dir == DirectoryConfig::default() {
        return (outputs, foreign);
    }
    let glob = |g: &Option<String>| g.as_deref().and_then(|g| crate::core::paths::file_glob(g).ok());
    let (include, exclude) = (glob(&dir.include), glob(&dir.exclude));
    let outputs = outputs
        .into_iter()
        .filter(|out| {
            let below = out
                .file
                .strip_prefix(rel)
                .map_or(out.file.as_str(), |f| f.trim_start_matches('/'));
            (dir.recurse || !below.contains('/'))
                && include.as_ref().is_none_or(|g| g.matches(below))
                && !exclude.as_ref().is_some_and(|g| g.matches(below))
        })
        .collect();
    // Without recurse, what lies in subdirectories is not read: nor named as unread.
    let foreign = if dir.recurse { foreign } else { Vec::new() };
    (outputs, foreign)
}

/// A directory no renderer reads: its workloads are unknown, so `undeclared` is not judged in
/// the namespace it would deploy to.
fn not_read(dir: String, kind: plain::Foreign, source: &str, namespace: &str) -> SkippedPath {
    let reason = match kind {
        plain::Foreign::Chart => CHART.to_string(),
        plain::Foreign::Kustomization => format!(
            "a kustomization inside plain path {source:?}: its files are kustomize's inputs (patches, plugin configs), not manifests; list {dir:?} in paths to render it"
        ),
    };
    SkippedPath {
        path: dir,
        source: source.to_string(),
        reason,
        namespace: Some(namespace.to_string()),
    }
}

/// What a path's `postBuild` (a Flux Kustomization's variables) makes of its rendered objects.
enum PostBuild {
    AsBuilt,
    Substituted(Vec<serde_json::Value>),
    /// Its variables could not all be read (a ConfigMap or Secret driftwatch may not get): what
    /// it declares is not known, said as one `unverifiable` finding naming the permission.
    Unverifiable(SkippedPath),
}

/// What a kustomization built into `state`, after its `postBuild` (if any).
fn extract_built(
    rel: &str,
    sel: &Selected<'_>,
    docs: &[serde_json::Value],
    state: &mut DeclaredState,
) -> Result<(), RenderError> {
    let origin = Origin {
        file: rel,
        source: rel,
        default_namespace: sel.namespace,
        helm: None,
    };
    match post_build(rel, sel, docs)? {
        PostBuild::AsBuilt => manifest::extract(docs, origin, state),
        PostBuild::Substituted(docs) => manifest::extract(&docs, origin, state),
        PostBuild::Unverifiable(skipped) => state.skipped.push(skipped),
    }
    Ok(())
}

/// Flux's post-build substitution on `docs`, for a path whose entry has variables.
fn post_build(rel: &str, sel: &Selected<'_>, docs: &[serde_json::Value]) -> Result<PostBuild, RenderError> {
    let Some(s) = &sel.entry.substitute else {
        return Ok(PostBuild::AsBuilt);
    };
    if let Some(reason) = &s.refused {
        return Ok(PostBuild::Unverifiable(SkippedPath {
            path: rel.to_string(),
            source: rel.to_string(),
            reason: format!("postBuild variables not read, so what it declares is not known: {reason}"),
            namespace: Some(sel.namespace.to_string()),
        }));
    }
    crate::core::postbuild::substitute(docs, &s.data)
        .map(PostBuild::Substituted)
        .map_err(|e| RenderError::Kustomize {
            path: rel.to_string(),
            reason: format!("postBuild: {e}"),
        })
}

/// The files and directories below `root` that `pattern` matches, sorted. The checkout's own
/// `.git` is not looked into: git trees never hold it, and history must see what this sees.
pub fn expand(root: &Path, pattern: &PathPattern) -> Vec<PathBuf> {
    // A pattern without wildcards matches at most itself: look it up, rather than list every
    // directory on the way (what `driftwatch discover` writes is one literal path per
    // Application: 2,000 of them walked `apps/` 2,000 times, 5 s of a warm audit).
    let text = pattern.as_str();
    if !text.contains(['*', '?', '[']) {
        let under_git = text.split('/').next() == Some(".git");
        let path = root.join(text);
        return if !under_git && std::fs::metadata(&path).is_ok() {
            vec![path]
        } else {
            Vec::new()
        };
    }
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if e.depth() == 1 && e.file_name() == ".git" {
                return false;
            }
            let rel = relative(root, e.path());
            !e.file_type().is_dir() || pattern.may_contain(&rel)
        });
    let mut out: Vec<PathBuf> = walker
        .filter_map(Result::ok)
        .filter(|e| e.depth() > 0 && pattern.matches(&relative(root, e.path())))
        .map(walkdir::DirEntry::into_path)
        .collect();
    out.sort();
    out
}

pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in [
            "apps/api/production/d.yaml",
            "apps/api/staging/d.yaml",
            "apps/web/production/w.yaml",
            "apps/web/production/.hidden/h.yaml",
            "apps/.tools/production/t.yaml",
            "deploy/app.yaml",
            ".git/config.yaml",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x: 1\n").expect("write");
        }
        dir
    }

    /// The walk finds what `glob::glob` (how paths were expanded before) finds, `.git` aside.
    #[test]
    fn expansion_agrees_with_glob_on_disk() {
        let dir = tree();
        let root = dir.path();
        for p in [
            "apps/*/production",
            "apps/*/production/",
            "apps/**/production",
            "deploy/*.yaml",
            "*",
            "apps/[aw]*",
            // Literal paths take the lookup instead of the walk: the same answers.
            "apps/api/production",
            "apps/api/production/",
            "deploy/app.yaml",
            "apps/nope/production",
            "apps",
        ] {
            let ours: Vec<String> = expand(root, &PathPattern::new(p).expect("valid"))
                .iter()
                .map(|m| relative(root, m))
                .collect();
            let full = format!("{}/{}", root.display(), p.trim_end_matches('/'));
            let mut theirs: Vec<String> = glob::glob(&full)
                .expect("valid")
                .filter_map(Result::ok)
                .map(|m| relative(root, &m))
                .filter(|m| m != ".git")
                .collect();
            theirs.sort();
            assert_eq!(ours, theirs, "{p}");
        }
    }

    /// The files a render reads are exactly those the history matcher selects.
    #[test]
    fn render_and_history_select_the_same_files() {
        let dir = tree();
        let root = dir.path();
        let all: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && !relative(root, e.path()).starts_with(".git/"))
            .map(|e| relative(root, e.path()))
            .collect();
        for p in ["apps/*/production", "apps", "*", "deploy/app.yaml", "apps/.tools/*"] {
            let pattern = PathPattern::new(p).expect("valid");
            let mut on_disk: Vec<String> = expand(root, &pattern)
                .iter()
                .flat_map(|m| plain::manifest_files(m).expect("walk"))
                .map(|f| relative(root, &f))
                .collect();
            on_disk.sort();
            on_disk.dedup();
            let mut selected: Vec<String> = all.iter().filter(|f| pattern.selects(f)).cloned().collect();
            selected.sort();
            assert_eq!(on_disk, selected, "{p}");
        }
    }

    /// Argo CD's `directory`: without `recurse` only the path's own files; `include` and
    /// `exclude` on paths relative to it.
    #[test]
    fn directory_settings_select_the_files_of_a_plain_path() {
        let read = || -> plain::Read {
            let out = |file: &str| Rendered {
                file: file.to_string(),
                content: Ok(String::new()),
            };
            (
                vec![out("app/a.yaml"), out("app/b.yaml"), out("app/sub/c.yaml")],
                vec![("app/sub/k".to_string(), plain::Foreign::Kustomization)],
            )
        };
        let files = |dir: DirectoryConfig| -> (Vec<String>, usize) {
            let (outputs, foreign) = only_selected(read(), "app", &dir);
            (outputs.into_iter().map(|o| o.file).collect(), foreign.len())
        };
        let dir = |recurse: bool, include: Option<&str>, exclude: Option<&str>| DirectoryConfig {
            recurse,
            include: include.map(str::to_string),
            exclude: exclude.map(str::to_string),
        };
        assert_eq!(
            files(DirectoryConfig::default()).0.len(),
            3,
            "by default, everything below"
        );
        assert_eq!(
            files(dir(false, None, None)),
            (vec!["app/a.yaml".into(), "app/b.yaml".into()], 0)
        );
        assert_eq!(files(dir(true, Some("{a,c}.yaml"), None)).0, vec!["app/a.yaml"]);
        assert_eq!(
            files(dir(true, Some("*c.yaml"), None)).0,
            vec!["app/sub/c.yaml"],
            "* crosses directories"
        );
        assert_eq!(files(dir(false, None, Some("b.yaml"))).0, vec!["app/a.yaml"]);
    }
}
