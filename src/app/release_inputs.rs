//! A release's inputs as one audit renders it from its repository's files: values files it may
//! skip that are not there, `set_file` files' text set in its values, and value files of
//! another repository (Argo CD's `$values/…` of a `ref` source) read from that repository's
//! checkout.
//!
//! The renderers read one repository per release. So the files from the first `$values/…` one
//! on are read here, merged in order as Helm merges `-f` files, and given to the release as
//! values merged after its remaining files and before its inline values: what Helm renders is
//! the same as with every file on its command line.

use crate::config::{ReleaseConfig, RepoRef, ValuesFrom};
use crate::sources::render::SharedFiles;
use crate::sources::render::files::Kind;

/// Why a repository's files are not there this audit.
#[derive(Debug, thiserror::Error)]
pub enum Unsynced {
    /// The `[gitops]` repository: why the audit could not sync it, as the audit said it.
    #[error("{0}")]
    Gitops(String),
    /// Another repository whose sync failed. The error is kept, but shown only with the
    /// password its configured URL may hold taken out (so it is not a `source`, which
    /// `error_chain` would print as it is).
    #[error("{}", crate::redacted_chain(.error.as_ref(), &.repo.url))]
    Repository {
        repo: RepoRef,
        error: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },
    /// Not among the repositories this audit synced.
    #[error("not synced")]
    NotSynced,
}

/// A release's values file of another repository that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ElsewhereError {
    #[error("values file {file} of {repo}: the repository is not there: {source}")]
    Unsynced {
        file: String,
        repo: String,
        #[source]
        source: Unsynced,
    },
    #[error("values file {file} of {repo}: does not exist at the audited commit")]
    Missing { file: String, repo: String },
    #[error("values file {file} of {repo}: {source}")]
    Unread {
        file: String,
        repo: String,
        #[source]
        source: kustomize::files::ReadError,
    },
    #[error("values files from {file} on: {source}")]
    Values {
        file: String,
        #[source]
        source: helm::values::ValuesError,
    },
}

/// Makes `releases` what renders from `files` (their own repository's), with the files of
/// other repositories from `elsewhere` (`None`: `[gitops]`). Errors name the release and the
/// file; a release whose values cannot all be read is left out, and named in what is returned
/// (`release <name>`: it counts as failed, so what it declares is not judged missing).
pub fn prepare(
    releases: &mut Vec<ReleaseConfig>,
    files: &SharedFiles,
    elsewhere: &dyn Fn(Option<&RepoRef>) -> Result<SharedFiles, Unsynced>,
    errors: &mut Vec<String>,
) -> Vec<String> {
    let mut failed = Vec::new();
    releases.retain_mut(|r| {
        if let Err(e) = values_elsewhere(r, files, elsewhere) {
            errors.push(format!("helm release {}: {}", r.name, crate::error_chain(&e)));
            failed.push(format!("release {}", r.name));
            return false;
        }
        if r.ignore_missing_values_files {
            r.values_files.retain(|f| files.kind(f) == Some(Kind::File));
        }
        for (name, path) in &r.set_file {
            match files.read(path).map(|b| String::from_utf8_lossy(&b).into_owned()) {
                Ok(text) => crate::sources::discovery::argocd::set_path(&mut r.values, name, text.into()),
                Err(e) => errors.push(format!("helm release {}: set_file {name}: {e}", r.name)),
            }
        }
        true
    });
    failed
}

/// Reads `r`'s values files from its first `$values/…` one on (each from its repository),
/// merges them in order and puts them before its inline values; the files before stay.
fn values_elsewhere(
    r: &mut ReleaseConfig,
    files: &SharedFiles,
    elsewhere: &dyn Fn(Option<&RepoRef>) -> Result<SharedFiles, Unsynced>,
) -> Result<(), ElsewhereError> {
    let Some(first) = r.values_files.iter().position(|f| r.values_file_elsewhere(f).is_some()) else {
        return Ok(());
    };
    let mut read = Vec::new();
    for file in &r.values_files[first..] {
        let (from, path, repo) = match r.values_file_elsewhere(file) {
            Some((repo, path)) => {
                let shown = repo.map_or_else(|| "the [gitops] repository".to_string(), ToString::to_string);
                let from = elsewhere(repo).map_err(|source| ElsewhereError::Unsynced {
                    file: path.to_string(),
                    repo: shown.clone(),
                    source,
                })?;
                (from, path, shown)
            }
            None => (files.clone(), file.as_str(), "the chart's repository".to_string()),
        };
        if from.kind(path) != Some(Kind::File) {
            if r.ignore_missing_values_files {
                continue;
            }
            return Err(ElsewhereError::Missing {
                file: path.to_string(),
                repo,
            });
        }
        let bytes = from.read(path).map_err(|source| ElsewhereError::Unread {
            file: path.to_string(),
            repo,
            source,
        })?;
        read.push((file.clone(), bytes));
    }
    let merged = helm::values::user_values(&read, &[]).map_err(|source| ElsewhereError::Values {
        file: r.values_files[first].clone(),
        source,
    })?;
    let mut layer = ValuesFrom {
        data: merged,
        sources: Vec::new(),
        refused: None,
    };
    // A Flux `valuesFrom` (never together with these today) comes after the files.
    if let Some(from) = r.values_from.take() {
        crate::config::merge_values(&mut layer.data, from.data);
        layer.sources = from.sources;
        layer.refused = from.refused;
    }
    r.values_from = Some(layer);
    r.values_files.truncate(first);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::config::{ChartSource, GitRef, VALUES_REF, ValuesRepo};
    use crate::sources::render::files::DirFiles;

    fn dir(files: &[(&str, &str)]) -> (tempfile::TempDir, SharedFiles) {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let at = d.path().join(p);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, text).unwrap();
        }
        let files: SharedFiles = Arc::new(DirFiles::new(d.path()));
        (d, files)
    }

    fn other() -> RepoRef {
        RepoRef {
            url: "https://git.example/values".into(),
            reference: GitRef::Branch("main".into()),
        }
    }

    fn release(files: &[&str]) -> ReleaseConfig {
        ReleaseConfig {
            name: "shop".into(),
            namespace: "web".into(),
            chart: ChartSource::Path("chart".into()),
            values_files: files.iter().map(|f| (*f).to_string()).collect(),
            values: json!({"replicas": 5}).as_object().unwrap().clone(),
            kube_version: None,
            api_versions: Vec::new(),
            engine: None,
            git: None,
            ignore_missing_values_files: false,
            set_file: Vec::new(),
            values_from: None,
            values_repo: Some(ValuesRepo { repo: Some(other()) }),
        }
    }

    #[test]
    fn files_from_the_first_other_repository_one_on_are_merged_in_order_under_the_inline_values() {
        let (_a, chart) = dir(&[
            ("chart/values.yaml", "image: {repository: shop, tag: v1}\n"),
            ("chart/values-late.yaml", "image: {pullPolicy: Always}\nreplicas: 2\n"),
        ]);
        let (_b, values) = dir(&[("envs/prod.yaml", "image: {tag: v2}\nreplicas: 3\n")]);
        let files = [
            "chart/values.yaml".to_string(),
            format!("{VALUES_REF}envs/prod.yaml"),
            "chart/values-late.yaml".to_string(),
        ];
        let r = release(&files.iter().map(String::as_str).collect::<Vec<_>>());
        let lookup = |repo: Option<&RepoRef>| {
            assert_eq!(repo, Some(&other()), "read from the values repository");
            Ok(values.clone())
        };
        let mut errors = Vec::new();
        let mut releases = vec![r];
        let failed = prepare(&mut releases, &chart, &lookup, &mut errors);
        assert!(errors.is_empty() && failed.is_empty(), "{errors:?}");
        let r = &releases[0];
        assert_eq!(r.values_files, vec!["chart/values.yaml"], "the files before stay files");
        assert_eq!(
            serde_json::Value::Object(r.inline_values()),
            json!({"image": {"tag": "v2", "pullPolicy": "Always"}, "replicas": 5}),
            "the later chart file over the other repository's, the inline values over both"
        );
    }

    #[test]
    fn a_missing_file_of_the_other_repository_fails_the_release_naming_file_and_repository() {
        let (_a, chart) = dir(&[("chart/values.yaml", "a: 1\n")]);
        let (_b, values) = dir(&[]);
        let lookup = |_: Option<&RepoRef>| Ok(values.clone());
        let mut errors = Vec::new();
        let mut releases = vec![release(&["$values/envs/prod.yaml"])];
        let failed = prepare(&mut releases, &chart, &lookup, &mut errors);
        assert!(releases.is_empty());
        assert_eq!(failed, vec!["release shop"]);
        assert!(
            errors[0].contains("helm release shop: values file envs/prod.yaml of https://git.example/values (branch main): does not exist at the audited commit"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_missing_file_is_left_out_with_ignore_missing_values_files() {
        let (_a, chart) = dir(&[]);
        let (_b, values) = dir(&[("envs/prod.yaml", "a: 1\n")]);
        let mut r = release(&["$values/envs/absent.yaml", "$values/envs/prod.yaml"]);
        r.ignore_missing_values_files = true;
        let lookup = |_: Option<&RepoRef>| Ok(values.clone());
        let mut errors = Vec::new();
        let mut releases = vec![r];
        prepare(&mut releases, &chart, &lookup, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        // Helm reads values files as JSON does: numbers are float64.
        assert_eq!(releases[0].inline_values()["a"].as_f64(), Some(1.0));
    }

    #[test]
    fn a_repository_that_did_not_sync_is_named_without_its_password() {
        let repo = RepoRef {
            url: "https://bot:s3cret@git.example/values".into(),
            reference: GitRef::Branch("main".into()),
        };
        let error = std::io::Error::other(format!("cannot fetch {}: timed out", repo.url));
        let e = Unsynced::Repository {
            repo,
            error: std::sync::Arc::new(error),
        };
        let text = crate::error_chain(&e);
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("git.example/values: timed out"), "{text}");
    }

    #[test]
    fn an_unreachable_repository_fails_the_release_with_the_sync_error() {
        let (_a, chart) = dir(&[]);
        let lookup = |_: Option<&RepoRef>| Err(Unsynced::Gitops("authentication required".into()));
        let mut errors = Vec::new();
        let failed = prepare(
            &mut vec![release(&["$values/envs/prod.yaml"])],
            &chart,
            &lookup,
            &mut errors,
        );
        assert_eq!(failed.len(), 1);
        assert!(
            errors[0].contains("the repository is not there: authentication required"),
            "{errors:?}"
        );
    }
}
