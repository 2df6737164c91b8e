//! `[gitops]`: a remote repository (url, branch or rev, credentials, cache) or a local path.

use std::path::{Path, PathBuf};

use super::Validator;
use crate::config::raw::RawGitops;
use crate::config::{ConfigError, GitAuth, GitRef, GitopsConfig};

impl Validator<'_> {
    pub(super) fn gitops(&self, mut g: RawGitops) -> Result<GitopsConfig, ConfigError> {
        match (g.url.take(), g.path.take()) {
            (Some(_), Some(_)) => Err(self.invalid("gitops.url, gitops.path", "give one of the two, not both")),
            (None, None) => Err(self.invalid(
                "gitops.url",
                "missing: the GitOps repository to audit (or gitops.path for a local directory)",
            )),
            (None, Some(path)) => {
                if g.branch.is_some() || g.rev.is_some() {
                    return Err(self.invalid(
                        "gitops.path",
                        "a local path is audited as it is on disk; branch and rev need gitops.url",
                    ));
                }
                Ok(GitopsConfig::Local { path: self.path(path) })
            }
            (Some(url), None) => self.remote(url, g),
        }
    }

    fn remote(&self, url: String, g: RawGitops) -> Result<GitopsConfig, ConfigError> {
        if url.trim().is_empty() {
            return Err(self.invalid("gitops.url", "is empty"));
        }
        let reference = match (g.branch, g.rev) {
            (Some(_), Some(_)) => {
                return Err(self.invalid("gitops.branch, gitops.rev", "give one of the two, not both"));
            }
            (Some(b), None) => GitRef::Branch(b),
            (None, Some(r)) => GitRef::Rev(r),
            (None, None) => GitRef::DefaultBranch,
        };
        let auth = GitAuth {
            username: g.username.unwrap_or_else(|| "x-access-token".into()),
            token: self.secret("gitops.token", g.token_env, g.token_file)?,
            ssh_key: g.ssh_key.map(|p| self.path(p)),
            ssh_key_passphrase: self.secret(
                "gitops.ssh_key_passphrase",
                g.ssh_key_passphrase_env,
                g.ssh_key_passphrase_file,
            )?,
        };
        // A local path as url is taken relative to the config file, like every path.
        let url = if !url.contains("://") && !url.contains('@') && !Path::new(&url).is_absolute() {
            self.path(PathBuf::from(&url)).display().to_string()
        } else {
            url
        };
        let cache_dir = self.path(
            g.cache_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/gitops")),
        );
        Ok(GitopsConfig::Remote {
            url,
            reference,
            auth,
            cache_dir,
        })
    }
}
