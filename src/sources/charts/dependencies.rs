//! A chart's dependencies that `charts/` does not hold: what `helm dependency build` would
//! fetch, found from `Chart.yaml` (versions pinned by `Chart.lock` when it lists them) and
//! fetched the same way as a release's chart. `file://` dependencies are directories in the
//! GitOps repository.

use serde::Deserialize;

use super::{ChartError, Fetched, Session, oci, repo};

/// One dependency to add under `charts/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vendored {
    /// From a Helm repository or registry.
    Archive(Fetched),
    /// A `file://` dependency: a chart directory in the GitOps repository (repository-relative).
    Directory { name: String, dir: String },
}

/// `Chart.lock` (or `requirements.lock`): the versions `helm dependency update` resolved.
#[derive(Debug, Default, Deserialize)]
struct Lock {
    #[serde(default)]
    dependencies: Vec<Locked>,
}

#[derive(Debug, Deserialize)]
struct Locked {
    name: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    version: String,
}

/// The dependencies of the chart made of `files` that are declared and not vendored, fetched.
/// `chart` names it in errors; `dir` is its directory in the GitOps repository (for `file://`
/// dependencies), `None` for a fetched chart. A chart that does not load is left to the
/// renderer, which says why.
pub async fn missing(
    session: &Session<'_>,
    chart: &str,
    dir: Option<&str>,
    files: &[helm::chart::File],
) -> Result<Vec<Vendored>, ChartError> {
    let Ok(loaded) = helm::chart::load_files(files.to_vec()) else {
        return Ok(Vec::new());
    };
    let lock: Lock = files
        .iter()
        .find(|f| f.name == "Chart.lock" || f.name == "requirements.lock")
        .and_then(|f| serde_yaml::from_slice(&f.data).ok())
        .unwrap_or_default();
    let present: Vec<&str> = loaded.dependencies.iter().map(helm::chart::Chart::name).collect();
    let declared = loaded.metadata.dependencies.iter().flatten().flatten();
    let mut out: Vec<Vendored> = Vec::new();
    for dep in declared {
        if present.contains(&dep.name.as_str()) || out.iter().any(|v| name(v) == dep.name) {
            continue;
        }
        let version = lock
            .dependencies
            .iter()
            .find(|l| l.name == dep.name && l.repository == dep.repository && !l.version.is_empty())
            .map_or(dep.version.as_str(), |l| l.version.as_str());
        let version = (!version.is_empty()).then_some(version);
        out.push(fetch(session, chart, dir, &dep.name, &dep.repository, version).await?);
    }
    Ok(out)
}

fn name(v: &Vendored) -> &str {
    match v {
        Vendored::Archive(f) => &f.name,
        Vendored::Directory { name, .. } => name,
    }
}

/// One dependency from where its `repository` says.
async fn fetch(
    session: &Session<'_>,
    chart: &str,
    dir: Option<&str>,
    name: &str,
    repository: &str,
    version: Option<&str>,
) -> Result<Vendored, ChartError> {
    let invalid = |reason: String| ChartError::Invalid {
        chart: chart.to_string(),
        reason: format!("dependency {name}: {reason}"),
    };
    if let Some(path) = repository.strip_prefix("file://") {
        let Some(dir) = dir else {
            return Err(invalid(format!(
                "{repository} is relative to a chart directory, and this chart was fetched"
            )));
        };
        let dep = kustomize::files::join(dir, path).map_err(|e| invalid(e.to_string()))?;
        return Ok(Vendored::Directory {
            name: name.to_string(),
            dir: dep,
        });
    }
    if let Some(registry) = repository.strip_prefix("oci://") {
        let reference = format!("{}/{name}", registry.trim_end_matches('/'));
        return oci::fetch(session, &reference, version).await.map(Vendored::Archive);
    }
    if repository.starts_with("https://") || repository.starts_with("http://") {
        return repo::fetch(session, repository, name, version)
            .await
            .map(Vendored::Archive);
    }
    Err(invalid(if repository.is_empty() {
        "not in charts/ and no repository to fetch it from".into()
    } else {
        format!("repository {repository:?} is a `helm repo add` name: give the repository's URL in Chart.yaml")
    }))
}
