//! Helm releases (`renderer = "helm"`): each release's chart (a directory at the audited
//! commit, or fetched by [`crate::sources::charts`] with the dependencies it does not vendor),
//! its values files and inline values, rendered by the built-in engine (the `helm` crate) or by
//! `helm template` ([`super::helm_exec`]), through the render cache. The documents are read as
//! kustomize's are ([`crate::core::manifest`]), each workload recording its release and its
//! template (`# Source:`).
//!
//! A release's cache key holds what is not a file (release name, namespace, chart location or
//! fetched digest, fetched dependencies, inline values, capabilities, engine); its entry records
//! the identity of the chart directory, of every `file://` dependency and of each values file,
//! so an unchanged release is never rendered again, in the daemon or across `--once` runs. For a
//! chart directory that fetches nothing, the key is known before the chart is read (what it
//! vendors and where its `file://` dependencies are follow from the directory's identity): a
//! warm release is looked up from identities alone, and the chart is read and parsed only on a
//! miss.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;

use super::cache::{self, Entry};
use super::files::{Files, Kind};
use super::helm_exec::{self, ExecError, Invocation};
use super::{NoExternal, Output, Place, RenderError, Renderer, SharedFiles};
use crate::config::{ChartSource, Engine, EnvironmentConfig, ReleaseConfig};
use crate::core::manifest::{self, Origin};
use crate::core::model::{DeclaredState, ReleaseRender};
use crate::sources::charts::dependencies::{self, Vendored};
use crate::sources::charts::{ChartError, Fetched, Session};

/// Part of every Helm render's cache key: bump it with any change to how driftwatch renders or
/// reads a release (the built-in engine's own changes bump `helm::VERSION`, in its key too).
const KEY_VERSION: &str = "helm-2";

/// `.Capabilities.KubeVersion` for a release that gives none.
pub const DEFAULT_KUBE_VERSION: &str = "1.30";

/// Why the built-in engine gives no output for a release: `Unsupported` hands the release to
/// `helm template` with the reason (recorded as `external: <reason>`), `Invalid` is the
/// release's error in Helm's words.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

/// The built-in engine (`crates/helm`): `helm template`'s output for the release. What it does
/// not implement (a function, a feature) is `Unsupported`, naming it, and the release goes to
/// `helm template`; what fails as it fails in Helm is the release's error.
fn builtin(
    chart: helm::chart::Chart,
    user: &helm::values::Values,
    opts: &helm::values::render::TemplateOptions,
) -> Result<String, BuiltinError> {
    match helm::template(chart, user, opts, helm::Show::default()) {
        Ok(rendered) => Ok(rendered.output),
        Err(helm::release::Error::Unsupported(what)) => Err(BuiltinError::Unsupported(format!("uses {what}"))),
        Err(e) => Err(BuiltinError::Invalid(crate::error_chain(&e))),
    }
}

/// A release's chart as found: where `helm template` reads it, its files, and what had to be
/// fetched for it.
struct Resolved {
    /// A directory of the checkout, or the fetched archive.
    path: PathBuf,
    /// The chart's directory in the repository (`None`: fetched).
    dir: Option<String>,
    fetched: Option<Fetched>,
    /// The chart's files as Helm loads them.
    files: Vec<helm::chart::File>,
    /// Declared dependencies `charts/` lacks, fetched.
    deps: Vec<Vendored>,
}

/// One release, rendered (or from the cache) and how.
struct Released {
    entry: Arc<Entry>,
    cached: bool,
    /// The chart's directory in the repository (`None`: fetched).
    dir: Option<String>,
    fetched: Option<Fetched>,
}

/// What the cache keys of one release are made of.
struct Keys {
    /// Everything but the engine (and the external helm's version).
    parts: Vec<String>,
    /// The repository files the render reads, with their identity now.
    deps: std::collections::BTreeMap<String, Option<String>>,
    /// A key already looked up in vain this audit (not asked twice).
    missed: Option<String>,
    /// The release's values were read from a Kubernetes Secret: its renders stay in memory.
    secret: bool,
}

/// How a render by `helm template` is reported: `external`, or `external: <why>` when the
/// built-in engine left the release to it.
fn external_renderer(fallback: Option<&str>) -> String {
    match fallback {
        Some(reason) => format!("external: {reason}"),
        None => "external".to_string(),
    }
}

/// A cached external render as this run reports it: a cached external render serves both
/// engines, and the reason is this run's.
fn as_external(hit: &Entry, fallback: Option<&str>) -> Arc<Entry> {
    let mut entry = hit.clone();
    entry.renderer = external_renderer(fallback);
    Arc::new(entry)
}

impl Keys {
    /// The cache's entry under `key`, unless that key already missed this audit.
    fn lookup(&self, renderer: &Renderer, key: &str, files: &SharedFiles) -> Option<Arc<Entry>> {
        if self.missed.as_deref() == Some(key) {
            return None;
        }
        renderer.lookup_release(self.secret, key, files)
    }

    /// The cache key of a render by the engine `engine` names (with the external helm's
    /// version).
    fn key(&self, engine: &[&str]) -> String {
        let parts: Vec<&str> = engine
            .iter()
            .copied()
            .chain(self.parts.iter().map(String::as_str))
            .collect();
        cache::key(&parts)
    }
}

impl Renderer {
    /// Renders every release of `env`, in config order, and adds what they declare to
    /// `state`. A release that fails is an error naming it; the others are still read.
    pub(super) async fn releases(
        &self,
        at: &Place<'_>,
        env: &EnvironmentConfig,
        kube_version: Option<&str>,
        state: &mut DeclaredState,
        errors: &mut Vec<RenderError>,
    ) {
        let Place { files, root, repo } = *at;
        let session = self.charts.session();
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        // A release whose `valuesFrom` could not all be read is not rendered: one
        // `unverifiable` finding names the permission, and the other releases are judged.
        for r in &env.releases {
            if let Some(reason) = r.values_from.as_ref().and_then(|v| v.refused.as_ref()) {
                let at = format!("release {}", r.name);
                state.skipped.push(crate::core::model::SkippedPath {
                    path: at.clone(),
                    source: at,
                    reason: format!("valuesFrom not read, so what it declares is not known: {reason}"),
                    namespace: Some(r.namespace.clone()),
                });
            }
        }
        // A release that names no Kubernetes version gets the cluster's (else the default).
        let releases: Vec<ReleaseConfig> = env
            .releases
            .iter()
            .filter(|r| r.values_from.as_ref().is_none_or(|v| v.refused.is_none()))
            .map(|r| ReleaseConfig {
                kube_version: r.kube_version.clone().or_else(|| kube_version.map(str::to_string)),
                ..r.clone()
            })
            .collect();
        // Collected before streaming, as for paths: the daemon spawns audits, and a lazy map
        // over references is not provably Send.
        let renders: Vec<_> = releases
            .iter()
            .map(|release| {
                let session = &session;
                async move { (release, self.release(session, files, root, repo, env, release).await) }
            })
            .collect();
        let mut rendered = futures::stream::iter(renders).buffered(parallel);
        while let Some((release, out)) = rendered.next().await {
            match out {
                Ok(out) => record(release, &out, state),
                Err(e) => {
                    state.failed_paths.push(format!("release {}", release.name));
                    errors.push(e);
                }
            }
        }
    }

    /// One release: its chart and dependencies, then the engine it is configured for.
    async fn release(
        &self,
        session: &Session<'_>,
        files: &SharedFiles,
        root: &Path,
        repo: &str,
        env: &EnvironmentConfig,
        release: &ReleaseConfig,
    ) -> Result<Released, RenderError> {
        let engine = release.engine.or(env.engine).unwrap_or(self.cfg.engine);
        let early = self.directory_key(files, repo, release, engine).await;
        let secret = release.secret_inputs();
        if let Some(entry) = early.as_deref().and_then(|key| self.lookup_release(secret, key, files)) {
            let ChartSource::Path(dir) = &release.chart else {
                unreachable!("only a chart directory has an early key")
            };
            return Ok(Released {
                entry: if engine == Engine::External {
                    as_external(&entry, None)
                } else {
                    entry
                },
                cached: true,
                dir: Some(dir.clone()),
                fetched: None,
            });
        }
        let resolved = resolve(session, files, root, release).await?;
        let mut keys = keys(files.as_ref(), repo, release, &resolved)?;
        keys.missed = early;
        let out = match engine {
            Engine::External => self.helm_external(files, root, release, &resolved, &keys, None).await?,
            Engine::Builtin => self.helm_builtin(files, root, release, &resolved, &keys).await?,
        };
        Ok(Released {
            entry: out.entry,
            cached: out.cached,
            dir: resolved.dir,
            fetched: resolved.fetched,
        })
    }

    /// The cache key of a release of a chart directory, known without reading the chart: the
    /// key of a chart that fetches nothing is made of identities and config alone (a chart
    /// whose dependencies are fetched has its entries under keys naming them, so this misses).
    /// `None` for a fetched chart or an absent values file: the chart is read, and says why.
    async fn directory_key(
        &self,
        files: &SharedFiles,
        repo: &str,
        release: &ReleaseConfig,
        engine: Engine,
    ) -> Option<String> {
        let ChartSource::Path(dir) = &release.chart else {
            return None;
        };
        let local = Resolved {
            path: PathBuf::new(),
            dir: Some(dir.clone()),
            fetched: None,
            files: Vec::new(),
            deps: Vec::new(),
        };
        let keys = keys(files.as_ref(), repo, release, &local).ok()?;
        Some(match engine {
            Engine::Builtin => keys.key(&["builtin", helm::VERSION]),
            Engine::External => keys.key(&["external", &self.helm_version().await.ok()?]),
        })
    }

    /// The built-in engine, through the cache; what it does not support goes to `helm`.
    async fn helm_builtin(
        &self,
        files: &SharedFiles,
        root: &Path,
        release: &ReleaseConfig,
        resolved: &Resolved,
        keys: &Keys,
    ) -> Result<Output, RenderError> {
        let key = keys.key(&["builtin", helm::VERSION]);
        if let Some(hit) = keys.lookup(self, &key, files) {
            return Ok(Output {
                entry: hit,
                cached: true,
            });
        }
        let failed = |reason: String| RenderError::Helm {
            release: release.name.clone(),
            reason,
        };
        // Reading the inputs (git blobs, archives) and the render are blocking work.
        let (f, dir, r) = (files.clone(), root.to_path_buf(), release.clone());
        let (chart_files, deps) = (resolved.files.clone(), resolved.deps.clone());
        let rendered = tokio::task::spawn_blocking(move || {
            let (chart, user, opts) = builtin_inputs(f.as_ref(), &dir, &r, chart_files, &deps)
                .map_err(|e| BuiltinError::Invalid(crate::error_chain(&e)))?;
            builtin(chart, &user, &opts)
        })
        .await
        .map_err(|e| failed(format!("built-in engine failed: {e}")))?;
        match rendered {
            Ok(text) => {
                let (docs, templates) = documents(&text).map_err(|e| failed(crate::error_chain(&e)))?;
                let entry = Entry {
                    deps: keys.deps.clone(),
                    renderer: "builtin".into(),
                    docs,
                    templates,
                };
                Ok(Output {
                    entry: self.keep_release(release, &key, entry),
                    cached: false,
                })
            }
            Err(BuiltinError::Invalid(reason)) => Err(failed(reason)),
            Err(BuiltinError::Unsupported(reason)) => {
                self.helm_external(files, root, release, resolved, keys, Some(reason))
                    .await
            }
        }
    }

    /// `helm template`, through the cache; `fallback` is why the built-in engine left it.
    async fn helm_external(
        &self,
        files: &SharedFiles,
        root: &Path,
        release: &ReleaseConfig,
        resolved: &Resolved,
        keys: &Keys,
        fallback: Option<String>,
    ) -> Result<Output, RenderError> {
        let renderer = external_renderer(fallback.as_deref());
        let missing = |command: String| match &fallback {
            Some(reason) => RenderError::HelmFallbackMissing {
                release: release.name.clone(),
                reason: reason.clone(),
                command,
            },
            None => RenderError::HelmMissing {
                release: release.name.clone(),
                command,
            },
        };
        let version = self.helm_version().await.map_err(|NoExternal(c)| missing(c))?;
        let key = keys.key(&["external", &version]);
        if let Some(hit) = keys.lookup(self, &key, files) {
            return Ok(Output {
                entry: as_external(&hit, fallback.as_deref()),
                cached: true,
            });
        }
        let text = self.run_helm(root, release, resolved).await.map_err(|e| match e {
            ExecError::Missing { command } => missing(command),
            ExecError::Failed(reason) => RenderError::Helm {
                release: release.name.clone(),
                reason,
            },
        })?;
        let (docs, templates) = documents(&text).map_err(|e| RenderError::Helm {
            release: release.name.clone(),
            reason: crate::error_chain(&e),
        })?;
        let entry = Entry {
            deps: keys.deps.clone(),
            renderer,
            docs,
            templates,
        };
        Ok(Output {
            entry: self.keep_release(release, &key, entry),
            cached: false,
        })
    }

    /// The cache's render under `key`; for a release whose values were read from a Secret
    /// (`secret`), from memory only.
    fn lookup_release(&self, secret: bool, key: &str, files: &SharedFiles) -> Option<Arc<Entry>> {
        match (&self.cache, secret) {
            (Some(c), true) => c.lookup_in_memory(key, files.as_ref()),
            _ => self.lookup(key, files),
        }
    }

    /// A render of `release` into the cache: one whose values were read from a Kubernetes
    /// Secret stays in memory (its documents may hold them), the others go to disk too.
    fn keep_release(&self, release: &ReleaseConfig, key: &str, entry: Entry) -> Arc<Entry> {
        if release.secret_inputs() {
            self.keep_in_memory(key, entry)
        } else {
            self.keep(key, entry)
        }
    }

    /// Runs `helm template` for `release`, within the external processes' bound. A chart
    /// whose dependencies were fetched is laid out with them in a temporary directory first.
    async fn run_helm(&self, root: &Path, release: &ReleaseConfig, resolved: &Resolved) -> Result<String, ExecError> {
        let _slot = self.external_slots.acquire().await;
        let (chart, _temp) = materialize(root, resolved)
            .map_err(|e| ExecError::Failed(format!("cannot lay out the chart with its dependencies: {e}")))?;
        let values = release.inline_values();
        let inv = Invocation {
            release: &release.name,
            namespace: &release.namespace,
            chart: &chart,
            values_files: release.values_files.iter().map(|f| root.join(f)).collect(),
            values: &values,
            kube_version: release.kube_version.as_deref().unwrap_or(DEFAULT_KUBE_VERSION),
            api_versions: &release.api_versions,
        };
        helm_exec::template(&self.cfg, &inv).await
    }

    /// `helm version`, asked once.
    async fn helm_version(&self) -> Result<String, NoExternal> {
        self.helm_version
            .get_or_init(|| async {
                helm_exec::version(&self.cfg).await.map_err(|e| match e {
                    ExecError::Missing { command } => NoExternal(command),
                    ExecError::Failed(reason) => NoExternal(reason),
                })
            })
            .await
            .clone()
    }
}

/// `release`'s chart (checked at the commit, or fetched) and its missing dependencies.
async fn resolve(
    session: &Session<'_>,
    files: &SharedFiles,
    root: &Path,
    release: &ReleaseConfig,
) -> Result<Resolved, RenderError> {
    let chart_error = |source: ChartError| RenderError::Chart {
        release: release.name.clone(),
        source: Box::new(source),
    };
    let failed = |reason: String| RenderError::Helm {
        release: release.name.clone(),
        reason,
    };
    let (path, dir, fetched) = match session.fetch(&release.chart).await {
        None => {
            let ChartSource::Path(dir) = &release.chart else {
                unreachable!("only a chart directory is not fetched")
            };
            let chart_yaml = super::files::join(dir, "Chart.yaml").unwrap_or_default();
            if files.kind(&chart_yaml) != Some(Kind::File) {
                return Err(failed(format!(
                    "chart {}: no Chart.yaml there at the audited commit",
                    super::files::display(dir)
                )));
            }
            (root.join(dir), Some(dir.clone()), None)
        }
        Some(fetched) => {
            let fetched = fetched.map_err(chart_error)?;
            (fetched.archive.clone(), None, Some(fetched))
        }
    };
    let chart_files = chart_files(path.clone(), fetched.is_some()).await.map_err(|e| {
        failed(format!(
            "chart {}: {}",
            location(&release.chart),
            crate::error_chain(&e)
        ))
    })?;
    let label = location(&release.chart);
    let deps = dependencies::missing(session, &label, dir.as_deref(), &chart_files)
        .await
        .map_err(chart_error)?;
    Ok(Resolved {
        path,
        dir,
        fetched,
        files: chart_files,
        deps,
    })
}

/// The files of the chart at `path` (a directory, or an archive) as Helm loads them.
async fn chart_files(path: PathBuf, archive: bool) -> Result<Vec<helm::chart::File>, InputError> {
    tokio::task::spawn_blocking(move || {
        if archive {
            let bytes = std::fs::read(&path).map_err(|e| InputError::io(&path, e))?;
            Ok(helm::chart::archive::archive_files(&bytes)?)
        } else {
            Ok(helm::chart::archive::read_dir(&path)?)
        }
    })
    .await?
}

/// Why a release's chart (with its dependencies) or values could not be read or laid out.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Chart(#[from] helm::chart::ChartError),
    #[error(transparent)]
    Values(#[from] helm::values::ValuesError),
    #[error(transparent)]
    Read(#[from] super::files::ReadError),
    #[error("reading the chart stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl InputError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// `helm template`'s output that does not read as YAML.
#[derive(Debug, thiserror::Error)]
#[error("{template}: output is not YAML: {source}")]
pub struct NotYaml {
    template: String,
    #[source]
    source: safe_yaml::Error,
}

/// Where a release's chart is, as reports name it: `charts/shop`, `podinfo from
/// https://charts.example.com`, `oci://registry.example.com/charts/podinfo`.
pub fn location(chart: &ChartSource) -> String {
    match chart {
        ChartSource::Path(p) => super::files::display(p).to_string(),
        ChartSource::Repository { repo, name, .. } => format!("{name} from {}", crate::config::redact_url(repo)),
        ChartSource::Oci { reference, .. } => format!("oci://{reference}"),
    }
}

/// The cache key parts and file dependencies of `release` with its chart `resolved`. A values
/// file that is not at the commit is the release's error (Helm would stop on it too).
fn keys(files: &dyn Files, repo: &str, release: &ReleaseConfig, resolved: &Resolved) -> Result<Keys, RenderError> {
    let mut deps = std::collections::BTreeMap::new();
    let chart = match (&resolved.dir, &resolved.fetched) {
        (_, Some(f)) => format!("fetched {} {} {}", f.name, f.version, f.digest),
        (Some(dir), None) => {
            deps.insert(format!("{dir}/"), files.identity(&format!("{dir}/")));
            format!("directory {dir}")
        }
        (None, None) => unreachable!("a chart is a directory or fetched"),
    };
    // Only what is fetched: a `file://` dependency's directory follows from the chart's
    // (Chart.yaml is in it), and its identity is a file dependency of the entry. So a chart
    // that fetches nothing has the key `cached_directory` computes without reading it.
    let mut vendored = Vec::new();
    for dep in &resolved.deps {
        match dep {
            Vendored::Archive(f) => vendored.push(format!("{} {} {}", f.name, f.version, f.digest)),
            Vendored::Directory { dir, .. } => {
                deps.insert(format!("{dir}/"), files.identity(&format!("{dir}/")));
            }
        }
    }
    for file in &release.values_files {
        let id = files.identity(file);
        if files.kind(file) != Some(Kind::File) {
            return Err(RenderError::Helm {
                release: release.name.clone(),
                reason: format!("values file {file} does not exist at the audited commit"),
            });
        }
        deps.insert(file.clone(), id);
    }
    let parts = vec![
        KEY_VERSION.to_string(),
        repo.to_string(),
        release.name.clone(),
        release.namespace.clone(),
        chart,
        vendored.join("\n"),
        release.values_files.join("\n"),
        Value::Object(release.inline_values()).to_string(),
        release
            .kube_version
            .clone()
            .unwrap_or_else(|| DEFAULT_KUBE_VERSION.into()),
        release.api_versions.join("\n"),
    ];
    Ok(Keys {
        parts,
        deps,
        missed: None,
        secret: release.secret_inputs(),
    })
}

/// What the built-in engine is given: the chart with its dependencies under `charts/`, the
/// user values (files in order, then inline) and the template options.
fn builtin_inputs(
    files: &dyn Files,
    root: &Path,
    release: &ReleaseConfig,
    mut chart_files: Vec<helm::chart::File>,
    deps: &[Vendored],
) -> Result<
    (
        helm::chart::Chart,
        helm::values::Values,
        helm::values::render::TemplateOptions,
    ),
    InputError,
> {
    chart_files.extend(vendored_files(root, deps)?);
    let chart = helm::chart::load_files(chart_files)?;
    let mut values_files = Vec::new();
    for file in &release.values_files {
        values_files.push((file.clone(), files.read(file)?));
    }
    let user = helm::values::user_values(&values_files, &[release.inline_values()])?;
    let opts = template_options(
        &release.name,
        &release.namespace,
        release.kube_version.as_deref(),
        &release.api_versions,
    );
    Ok((chart, user, opts))
}

/// What `helm template` is told of a release (now or at a past commit): its name and
/// namespace, the kube version (else [`DEFAULT_KUBE_VERSION`]) and the extra API versions.
pub(crate) fn template_options(
    name: &str,
    namespace: &str,
    kube_version: Option<&str>,
    api_versions: &[String],
) -> helm::values::render::TemplateOptions {
    helm::values::render::TemplateOptions {
        release: helm::values::render::ReleaseOptions {
            name: name.to_string(),
            namespace: namespace.to_string(),
            ..Default::default()
        },
        kube_version: Some(kube_version.unwrap_or(DEFAULT_KUBE_VERSION).to_string()),
        api_versions: api_versions.to_vec(),
        skip_schema_validation: false,
    }
}

/// The fetched and `file://` dependencies as chart files under `charts/`.
fn vendored_files(root: &Path, deps: &[Vendored]) -> Result<Vec<helm::chart::File>, InputError> {
    let mut out = Vec::new();
    for dep in deps {
        match dep {
            Vendored::Archive(f) => {
                let data = std::fs::read(&f.archive).map_err(|e| InputError::io(&f.archive, e))?;
                out.push(helm::chart::File::new(
                    format!("charts/{}-{}.tgz", f.name, f.version),
                    data,
                ));
            }
            Vendored::Directory { name, dir } => {
                let files = helm::chart::archive::read_dir(&root.join(dir))?;
                out.extend(
                    files
                        .into_iter()
                        .map(|f| helm::chart::File::new(format!("charts/{name}/{}", f.name), f.data)),
                );
            }
        }
    }
    Ok(out)
}

/// Where `helm template` reads the chart: as it is when nothing had to be fetched for it, else
/// a temporary copy with its dependencies under `charts/` (removed when the guard drops).
fn materialize(root: &Path, resolved: &Resolved) -> Result<(PathBuf, Option<tempfile::TempDir>), InputError> {
    if resolved.deps.is_empty() {
        return Ok((resolved.path.clone(), None));
    }
    let temp = tempfile::Builder::new()
        .prefix("driftwatch-chart-")
        .tempdir()
        .map_err(|e| InputError::io(&std::env::temp_dir(), e))?;
    let dir = temp.path().join("chart");
    let all = resolved
        .files
        .iter()
        .cloned()
        .chain(vendored_files(root, &resolved.deps)?);
    for file in all {
        let path = dir.join(&file.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| InputError::io(parent, e))?;
        }
        std::fs::write(&path, &file.data).map_err(|e| InputError::io(&path, e))?;
    }
    Ok((dir, Some(temp)))
}

/// `helm template`'s output as documents, each with its template (`# Source:` path). Empty
/// documents (a template that rendered nothing) are left out.
pub fn documents(text: &str) -> Result<(Vec<Value>, Vec<String>), NotYaml> {
    let (mut docs, mut templates) = (Vec::new(), Vec::new());
    for piece in helm::chart::manifest::split_manifests(text) {
        let (template, body) = match piece.strip_prefix("# Source: ") {
            Some(rest) => rest.split_once('\n').unwrap_or((rest, "")),
            None => ("", piece.as_str()),
        };
        let (parsed, err) = safe_yaml::documents(body);
        if let Some(source) = err {
            return Err(NotYaml {
                template: template.trim().to_string(),
                source,
            });
        }
        for doc in parsed.into_iter().filter(|d| !d.is_null()) {
            docs.push(doc);
            templates.push(template.trim().to_string());
        }
    }
    Ok((docs, templates))
}

/// Whether a rendered document is a Helm hook (`helm.sh/hook`): Helm runs hooks around an
/// install and usually deletes them, so the cluster is not expected to keep them.
fn is_hook(doc: &Value) -> bool {
    doc.pointer("/metadata/annotations/helm.sh~1hook").is_some()
}

/// Adds what `out` declares to `state`, each workload with its release and template.
fn record(release: &ReleaseConfig, out: &Released, state: &mut DeclaredState) {
    let source = location(&release.chart);
    for (doc, template) in out.entry.docs.iter().zip(&out.entry.templates) {
        if is_hook(doc) {
            continue;
        }
        let file = template_file(out.dir.as_deref(), template);
        let origin = Origin {
            file: &file,
            source: &source,
            default_namespace: &release.namespace,
            helm: Some((&release.name, template)),
        };
        manifest::extract(std::slice::from_ref(doc), origin, state);
    }
    let fetched = out.fetched.as_ref();
    state.releases.push(ReleaseRender {
        release: release.name.clone(),
        namespace: release.namespace.clone(),
        chart: source,
        version: fetched.map(|f| f.version.clone()),
        digest: fetched.map(|f| f.digest.clone()),
        renderer: out.entry.renderer.clone(),
        cached: out.cached,
    });
}

/// The repository file a template is, for a chart in the repository (`shop/templates/a.yaml`
/// of `charts/shop` is `charts/shop/templates/a.yaml`); the template itself otherwise.
fn template_file(dir: Option<&str>, template: &str) -> String {
    match (dir, template.split_once('/')) {
        (Some(dir), Some((_, rest))) => super::files::join(dir, rest).unwrap_or_else(|_| template.to_string()),
        _ => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_template_output_keeps_each_documents_template() {
        let text = "---\n# Source: shop/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n---\n# Source: shop/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n---\n# Source: shop/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-worker\n---\n# Source: shop/templates/empty.yaml\n# nothing rendered\n";
        let (docs, templates) = documents(text).unwrap();
        assert_eq!(
            templates,
            [
                "shop/templates/service.yaml",
                "shop/templates/deployment.yaml",
                "shop/templates/deployment.yaml"
            ]
        );
        assert_eq!(docs[2]["metadata"]["name"], "shop-worker");
        let bad = "---\n# Source: shop/templates/bad.yaml\nkind: [\n";
        assert!(
            documents(bad)
                .unwrap_err()
                .to_string()
                .starts_with("shop/templates/bad.yaml: output is not YAML")
        );
    }

    /// What the built-in engine will be given: the chart with a `file://` dependency under
    /// `charts/`, values files in order then inline values, the release and capabilities.
    #[test]
    fn the_built_in_engine_gets_the_chart_values_and_capabilities() {
        let repo = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let p = repo.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "charts/shop/Chart.yaml",
            "apiVersion: v2\nname: shop\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n",
        );
        write(
            "charts/shop/values.yaml",
            "replicaCount: 1\nimage: {tag: a, pull: Always}\n",
        );
        write("charts/shop/templates/d.yaml", "kind: Deployment\n");
        write(
            "charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 0.1.0\n",
        );
        write("values-prod.yaml", "image: {tag: b}\n");
        let files = super::super::files::DirFiles::new(repo.path());
        let release = ReleaseConfig {
            name: "shop".into(),
            namespace: "web".into(),
            chart: ChartSource::Path("charts/shop".into()),
            values_files: vec!["values-prod.yaml".into()],
            values: serde_json::json!({"replicaCount": 3}).as_object().unwrap().clone(),
            kube_version: Some("1.29".into()),
            api_versions: vec!["example.com/v1".into()],
            engine: None,
            git: None,
            ignore_missing_values_files: false,
            set_file: Vec::new(),
            values_from: None,
            values_repo: None,
        };
        let chart_files = helm::chart::archive::read_dir(&repo.path().join("charts/shop")).unwrap();
        let deps = [Vendored::Directory {
            name: "common".into(),
            dir: "charts/common".into(),
        }];
        let (chart, user, opts) = builtin_inputs(&files, repo.path(), &release, chart_files, &deps).unwrap();
        assert_eq!(
            Value::Object(user.clone()),
            serde_json::json!({"image": {"tag": "b"}, "replicaCount": 3})
        );
        let prepared = helm::values::render::prepare(chart, &user, &opts).expect("prepares as helm template");
        assert_eq!(
            Value::Object(prepared.values.clone())["image"],
            serde_json::json!({"tag": "b", "pull": "Always"})
        );
        assert_eq!(prepared.chart.dependencies[0].name(), "common");
        let caps = prepared.scope.capabilities.to_json();
        assert_eq!(
            caps["KubeVersion"]["Version"], "v1.29",
            "as Helm v4 keeps --kube-version"
        );
        assert!(
            caps["APIVersions"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("example.com/v1"))
        );
        assert_eq!(prepared.scope.release["Namespace"], "web");
    }

    #[test]
    fn hooks_and_template_files() {
        let hook = serde_json::json!({"kind": "Job", "metadata": {"annotations": {"helm.sh/hook": "pre-install"}}});
        assert!(is_hook(&hook));
        assert!(!is_hook(&serde_json::json!({"kind": "Job", "metadata": {"name": "j"}})));
        assert_eq!(
            template_file(Some("charts/shop"), "shop/templates/deployment.yaml"),
            "charts/shop/templates/deployment.yaml"
        );
        assert_eq!(
            template_file(None, "podinfo/templates/deployment.yaml"),
            "podinfo/templates/deployment.yaml"
        );
    }
}
