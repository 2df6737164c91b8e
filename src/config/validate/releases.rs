//! `[[environments.releases]]` (Helm releases of a `renderer = "helm"` environment) and
//! `[[helm_repositories]]` (what requests to a Helm repository carry).

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawHelmRepository, RawRelease};
use crate::config::{
    ChartSource, ConfigError, GitRef, HelmRepositoryConfig, ReleaseConfig, Renderer, RepoRef, VALUES_REF, ValuesRepo,
};

/// Helm's own limit (`helm template` refuses longer names: they must fit in a label with a
/// suffix).
const MAX_RELEASE_NAME: usize = 53;

impl Validator<'_> {
    /// The releases of environment `i`: required with `renderer = "helm"`, refused without it.
    pub(super) fn releases(
        &self,
        i: usize,
        renderer: Renderer,
        default_namespace: &str,
        raw: Vec<RawRelease>,
    ) -> Result<Vec<ReleaseConfig>, ConfigError> {
        let key = format!("environments[{i}].releases");
        match (renderer, raw.is_empty()) {
            (Renderer::Helm, true) => {
                return Err(self.invalid(
                    key,
                    "renderer = \"helm\" needs at least one [[environments.releases]] entry",
                ));
            }
            (Renderer::Helm, false) => {}
            (_, true) => return Ok(Vec::new()),
            (_, false) => return Err(self.invalid(key, "releases are rendered with Helm: set renderer = \"helm\"")),
        }
        let mut out: Vec<ReleaseConfig> = Vec::with_capacity(raw.len());
        for (j, r) in raw.into_iter().enumerate() {
            // Each release on its own, so one run names the problems of all of them.
            let Some(release) = self.keep(self.release(&format!("{key}[{j}]"), default_namespace, r)) else {
                continue;
            };
            if out
                .iter()
                .any(|x| x.name == release.name && x.namespace == release.namespace)
            {
                return Err(self.invalid(
                    format!("{key}[{j}].name"),
                    format!(
                        "release {:?} in namespace {:?} is listed twice",
                        release.name, release.namespace
                    ),
                ));
            }
            out.push(release);
        }
        Ok(out)
    }

    fn release(&self, key: &str, default_namespace: &str, r: RawRelease) -> Result<ReleaseConfig, ConfigError> {
        let at = |k: &str| format!("{key}.{k}");
        release_name(&r.name).map_err(|e| self.invalid(at("name"), e.to_string()))?;
        let namespace = match r.namespace {
            Some(ns) if ns.trim().is_empty() => return Err(self.invalid(at("namespace"), "is empty")),
            Some(ns) => ns,
            None => default_namespace.to_string(),
        };
        let chart = self.chart(key, &r.chart, r.repo, r.version)?;
        let values_repo = self.values_repo(key, r.values_git_repo, r.values_revision, &r.values_files)?;
        let mut values_files = Vec::with_capacity(r.values_files.len());
        for (k, file) in r.values_files.iter().enumerate() {
            let at = format!("{key}.values_files[{k}]");
            values_files.push(match file.strip_prefix(VALUES_REF) {
                Some(path) => format!("{VALUES_REF}{}", self.repo_path(&at, path)?),
                None => self.repo_path(&at, file)?,
            });
        }
        let mut set_file = Vec::with_capacity(r.set_file.len());
        for (k, f) in r.set_file.into_iter().enumerate() {
            if f.name.trim().is_empty() {
                return Err(self.invalid(format!("{key}.set_file[{k}].name"), "is empty"));
            }
            set_file.push((f.name, self.repo_path(&format!("{key}.set_file[{k}].path"), &f.path)?));
        }
        let values = match r.values {
            None => serde_json::Map::new(),
            Some(serde_json::Value::Object(table)) => table,
            Some(other) => {
                return Err(self.invalid(
                    at("values"),
                    format!("must be a table of values (values = {{ replicaCount = 3 }}), not {other}"),
                ));
            }
        };
        if let Some(v) = &r.kube_version
            && helm::values::render::KubeVersion::parse(v).is_none()
        {
            return Err(self.invalid(
                at("kube_version"),
                format!("{v:?} is not a Kubernetes version like \"1.30\" or \"v1.30.2\""),
            ));
        }
        if let Some(k) = r.api_versions.iter().position(|a| a.trim().is_empty()) {
            return Err(self.invalid(format!("{key}.api_versions[{k}]"), "is empty"));
        }
        Ok(ReleaseConfig {
            name: r.name,
            namespace,
            chart,
            values_files,
            values,
            kube_version: r.kube_version,
            api_versions: r.api_versions,
            engine: self.engine(&at("engine"), r.engine.as_deref())?,
            git: self.repo_ref(key, r.git_repo, r.revision)?,
            ignore_missing_values_files: r.ignore_missing_values_files.unwrap_or(false),
            set_file,
            values_from: None,
            values_repo,
        })
    }

    /// `values_git_repo` and `values_revision`: where the `$values/…` entries of
    /// `values_files` are read; each needs the other.
    fn values_repo(
        &self,
        key: &str,
        repo: Option<String>,
        revision: Option<String>,
        files: &[String],
    ) -> Result<Option<ValuesRepo>, ConfigError> {
        let elsewhere = files.iter().position(|f| f.starts_with(VALUES_REF));
        match (repo, elsewhere) {
            (None, None) if revision.is_some() => Err(self.invalid(
                format!("{key}.values_revision"),
                "is set, but no values_files entry starts with $values/ (the files read at that revision)",
            )),
            (None, None) => Ok(None),
            // `$values/…` of the `[gitops]` repository at its own ref.
            (None, Some(_)) if revision.is_none() => Ok(Some(ValuesRepo { repo: None })),
            (Some(url), None) => Err(self.invalid(
                format!("{key}.values_git_repo"),
                format!("is {url:?}, but no values_files entry starts with $values/ (the files read from it)"),
            )),
            (Some(url), Some(_)) if url.trim().is_empty() => {
                Err(self.invalid(format!("{key}.values_git_repo"), "is empty"))
            }
            (url, Some(_)) => {
                let reference = match revision.as_deref().map(str::trim) {
                    None | Some("" | "HEAD") => GitRef::DefaultBranch,
                    Some(r) => GitRef::Revision(r.to_string()),
                };
                // An empty URL is the `[gitops]` repository's, filled in once it is read.
                Ok(Some(ValuesRepo {
                    repo: Some(RepoRef {
                        url: url.unwrap_or_default(),
                        reference,
                    }),
                }))
            }
        }
    }

    /// `chart` with `repo` and `version`: a directory in the repository, a chart of a Helm
    /// repository, or an `oci://` reference.
    fn chart(
        &self,
        key: &str,
        chart: &str,
        repo: Option<String>,
        version: Option<String>,
    ) -> Result<ChartSource, ConfigError> {
        let at = |k: &str| format!("{key}.{k}");
        if chart.trim().is_empty() {
            return Err(self.invalid(at("chart"), "is empty"));
        }
        if let Some(v) = &version
            && helm::semver::Constraints::parse(v).is_err()
        {
            return Err(self.invalid(
                at("version"),
                format!("{v:?} is not a version or range Helm reads (\"6.5.2\", \"6.5.x\", \"^6\", \">=6 <7\")"),
            ));
        }
        if let Some(reference) = chart.strip_prefix("oci://") {
            if repo.is_some() {
                return Err(self.invalid(at("repo"), "an oci:// chart names its registry itself: remove repo"));
            }
            return oci_reference(reference)
                .map(|reference| ChartSource::Oci { reference, version })
                .map_err(|e| self.invalid(at("chart"), e.to_string()));
        }
        if let Some(repo) = repo {
            self.http_url(&at("repo"), &repo)?;
            if chart.contains('/') {
                return Err(self.invalid(
                    at("chart"),
                    format!("{chart:?}: with repo, chart is the chart's name in that repository (\"podinfo\")"),
                ));
            }
            return Ok(ChartSource::Repository {
                repo,
                name: chart.to_string(),
                version,
            });
        }
        if chart.contains("://") {
            return Err(self.invalid(
                at("chart"),
                format!("{chart:?}: a chart from a Helm repository is its name with repo = \"https://…\""),
            ));
        }
        if version.is_some() {
            return Err(self.invalid(
                at("version"),
                "is for repository and OCI charts: a chart directory is used as the audited commit has it",
            ));
        }
        self.repo_path(&at("chart"), chart).map(ChartSource::Path)
    }

    /// A path in the GitOps repository, normalised (`./charts/shop/` → `charts/shop`); one
    /// that is absolute or climbs out of the repository is refused.
    fn repo_path(&self, key: &str, path: &str) -> Result<String, ConfigError> {
        kustomize::files::join("", path).map_err(|e| {
            self.invalid(
                key,
                format!("{e}: give a path relative to the GitOps repository's root"),
            )
        })
    }

    /// `[[helm_repositories]]`, each on its own.
    pub(super) fn helm_repositories(
        &self,
        raw: Vec<RawHelmRepository>,
    ) -> Result<Vec<HelmRepositoryConfig>, ConfigError> {
        Ok(raw
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| self.keep(self.helm_repository(i, r)))
            .collect())
    }

    fn helm_repository(&self, i: usize, r: RawHelmRepository) -> Result<HelmRepositoryConfig, ConfigError> {
        let key = format!("helm_repositories[{i}]");
        self.http_url(&format!("{key}.url"), &r.url)?;
        if url::Url::parse(&r.url).is_ok_and(|u| u.password().is_some()) {
            return Err(self.invalid(
                format!("{key}.url"),
                "holds a password: give it in password_env or password_file",
            ));
        }
        let password = self.secret(&format!("{key}.password"), r.password_env, r.password_file)?;
        let credentials = match (r.username, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(format!("{key}.password_env"), "username needs a password"));
            }
            (None, Some(_)) => return Err(self.invalid(format!("{key}.username"), "a password needs a username")),
        };
        Ok(HelmRepositoryConfig {
            url: r.url,
            credentials,
            ca_file: r.ca_file.map(|p| self.path(p)),
            timeout: self.duration(&format!("{key}.timeout"), r.timeout, Duration::from_secs(30))?,
        })
    }
}

/// Why Helm would refuse a release name.
#[derive(Debug, thiserror::Error)]
enum BadName {
    #[error("is empty")]
    Empty,
    #[error("{0:?} is longer than Helm's {MAX_RELEASE_NAME} characters")]
    TooLong(String),
    #[error("{0:?} is not a release name Helm accepts (lowercase letters, digits, '-' and '.')")]
    Characters(String),
}

/// Helm's `ValidateReleaseName`: a DNS-1123 subdomain of at most 53 characters.
fn release_name(name: &str) -> Result<(), BadName> {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > MAX_RELEASE_NAME {
        return Err(BadName::TooLong(name.to_string()));
    }
    if !name.split('.').all(label) {
        return Err(BadName::Characters(name.to_string()));
    }
    Ok(())
}

/// Why an `oci://` chart reference is refused.
#[derive(Debug, thiserror::Error)]
enum BadReference {
    #[error("oci://{0}: expected oci://host/path/chart")]
    Shape(String),
    #[error("oci://{0}: give the chart's version in version, not in the reference")]
    Versioned(String),
}

/// `host[:port]/path/name` of an `oci://` chart, without a tag or digest (those are the
/// `version` key's).
fn oci_reference(reference: &str) -> Result<String, BadReference> {
    let shape = || BadReference::Shape(reference.to_string());
    let (host, path) = reference
        .split_once('/')
        .filter(|(h, p)| !h.is_empty() && !p.is_empty())
        .ok_or_else(shape)?;
    if path.contains('@') || path.rsplit('/').next().is_some_and(|name| name.contains(':')) {
        return Err(BadReference::Versioned(reference.to_string()));
    }
    if path.split('/').any(str::is_empty) || host.contains(char::is_whitespace) {
        return Err(shape());
    }
    Ok(reference.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_as_helm_takes_them() {
        for (name, ok) in [
            ("shop", true),
            ("shop-api.v2", true),
            ("Shop", false),
            ("-shop", false),
            ("shop_api", false),
            ("a..b", false),
            (&"a".repeat(53), true),
            (&"a".repeat(54), false),
        ] {
            assert_eq!(release_name(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn oci_references() {
        for (reference, ok) in [
            ("registry.example.com/charts/podinfo", true),
            ("localhost:5000/podinfo", true),
            ("registry.example.com/charts/podinfo:6.5.0", false),
            ("registry.example.com/charts/podinfo@sha256:aa", false),
            ("registry.example.com", false),
            ("registry.example.com//podinfo", false),
        ] {
            assert_eq!(oci_reference(reference).is_ok(), ok, "{reference}");
        }
    }
}
