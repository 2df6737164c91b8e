//! `[gitops]`: a remote repository (url, branch or rev, credentials, cache) or a local path,
//! and how the daemon learns of its new commits (poll interval, push webhook secret).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawGitCredential, RawGitops};
use crate::config::{
    ConfigError, EnvironmentConfig, GitAuth, GitCredential, GitRef, GitUpdatesConfig, GitopsConfig, ReleaseConfig,
    RepositoriesConfig,
};

/// `poll_interval`'s default: a push shows within a minute even without a webhook, at the
/// cost of one small fetch a minute.
const POLL_INTERVAL: Duration = Duration::from_secs(60);

impl Validator<'_> {
    /// Takes `poll_interval` and `webhook_secret_*` out of `g` (the rest is [`Self::gitops`]'s).
    /// A local path has nothing to fetch, so setting either there is an error rather than a
    /// setting that silently does nothing.
    pub(super) fn git_updates(&self, g: &mut RawGitops) -> Result<GitUpdatesConfig, ConfigError> {
        let (poll, env, file) = (
            g.poll_interval.take(),
            g.webhook_secret_env.take(),
            g.webhook_secret_file.take(),
        );
        if g.url.is_none() {
            let set: Vec<&str> = [
                ("gitops.poll_interval", poll.is_some()),
                ("gitops.webhook_secret_env", env.is_some()),
                ("gitops.webhook_secret_file", file.is_some()),
            ]
            .into_iter()
            .filter_map(|(key, set)| set.then_some(key))
            .collect();
            if g.path.is_some() && !set.is_empty() {
                return Err(self.invalid(
                    set.join(", "),
                    "a local path is read as it is at every audit; polling and push webhooks need gitops.url",
                ));
            }
            return Ok(GitUpdatesConfig::default());
        }
        let poll_interval = match poll {
            Some(off) if off.trim() == "off" => {
                self.written.borrow_mut().insert("gitops.poll_interval".into(), off);
                None
            }
            other => Some(self.duration("gitops.poll_interval", other, POLL_INTERVAL)?).filter(|d| !d.is_zero()),
        };
        let recorded = self.errors.borrow().len();
        let webhook_secret = self.secret("gitops.webhook_secret", env, file)?;
        // Anyone can sign with an empty key: refuse it (unless the secret is missing, which is
        // already reported).
        if webhook_secret.as_ref().is_some_and(|s| s.expose().trim().is_empty())
            && self.errors.borrow().len() == recorded
        {
            self.record(self.invalid(
                "gitops.webhook_secret_file",
                "the file is empty: anyone could sign a webhook with an empty secret",
            ));
        }
        Ok(GitUpdatesConfig {
            poll_interval,
            webhook_secret,
        })
    }

    /// `[gitops]`; `optional`: no default repository is needed (discovery finds the
    /// repositories, or every source names its own).
    pub(super) fn gitops(&self, mut g: RawGitops, optional: bool) -> Result<GitopsConfig, ConfigError> {
        match (g.url.take(), g.path.take()) {
            (Some(_), Some(_)) => Err(self.invalid("gitops.url, gitops.path", "give one of the two, not both")),
            (None, None) if optional => Ok(GitopsConfig::Unset),
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
        let url = self.git_url(url);
        let cache_dir = self.cache_dir(g.cache_dir);
        Ok(GitopsConfig::Remote {
            url,
            reference,
            auth,
            cache_dir,
        })
    }
}

impl Validator<'_> {
    /// A local path as url is taken relative to the config file, like every path.
    fn git_url(&self, url: String) -> String {
        if !url.contains("://") && !url.contains('@') && !Path::new(&url).is_absolute() {
            self.path(PathBuf::from(&url)).display().to_string()
        } else {
            url
        }
    }

    fn cache_dir(&self, dir: Option<PathBuf>) -> PathBuf {
        self.path(dir.unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/gitops")))
    }

    /// `[gitops] cache_dir` and `[[gitops.credentials]]` (taken out of `g`): where and how every
    /// repository a source names is fetched.
    pub(super) fn repositories(&self, g: &mut RawGitops) -> Result<RepositoriesConfig, ConfigError> {
        let mut credentials = Vec::new();
        for (i, c) in std::mem::take(&mut g.credentials).into_iter().enumerate() {
            if let Some(c) = self.keep(self.credential(i, c)) {
                credentials.push(c);
            }
        }
        Ok(RepositoriesConfig {
            cache_dir: self.cache_dir(g.cache_dir.clone()),
            credentials,
        })
    }

    fn credential(&self, i: usize, c: RawGitCredential) -> Result<GitCredential, ConfigError> {
        let at = |k: &str| format!("gitops.credentials[{i}].{k}");
        if c.url_prefix.trim().is_empty() {
            return Err(self.invalid(
                at("url_prefix"),
                "is empty: it would send these credentials to every repository",
            ));
        }
        let token = self.secret(&at("token"), c.token_env, c.token_file)?;
        let password = self.secret(&at("password"), c.password_env, c.password_file)?;
        if token.is_some() && password.is_some() {
            return Err(self.invalid(at("token_env"), "give a token or a password, not both"));
        }
        if password.is_some() && c.username.is_none() {
            return Err(self.invalid(
                at("username"),
                "missing: Basic auth needs the username beside the password",
            ));
        }
        Ok(GitCredential {
            url_prefix: c.url_prefix,
            auth: GitAuth {
                username: c.username.unwrap_or_else(|| "x-access-token".into()),
                token: token.or(password),
                ssh_key: c.ssh_key.map(|p| self.path(p)),
                ssh_key_passphrase: self.secret(
                    &at("ssh_key_passphrase"),
                    c.ssh_key_passphrase_env,
                    c.ssh_key_passphrase_file,
                )?,
            },
        })
    }

    /// Gives every source's repository its URL: a `revision` without `repo` is the `[gitops]`
    /// repository's; a source naming the `[gitops]` repository at its own ref is the default
    /// (`None`), so it shares the default checkout.
    pub(super) fn resolve_repos(&self, gitops: &GitopsConfig, envs: &mut [EnvironmentConfig]) {
        let default = match gitops {
            GitopsConfig::Remote { url, reference, .. } => Some((url.clone(), reference.clone())),
            _ => None,
        };
        for (i, env) in envs.iter_mut().enumerate() {
            let slots = env.paths.iter_mut().map(|p| &mut p.repo).chain(
                env.releases
                    .iter_mut()
                    .flat_map(|r| std::iter::once(&mut r.git).chain(r.values_repo.as_mut().map(|v| &mut v.repo))),
            );
            for slot in slots {
                let Some(repo) = slot.as_mut() else { continue };
                if repo.url.is_empty() {
                    match &default {
                        Some((url, _)) => repo.url = url.clone(),
                        None => {
                            self.record(self.invalid(
                                format!("environments[{i}]"),
                                "a revision without repo needs gitops.url (the repository it is a revision of)",
                            ));
                            continue;
                        }
                    }
                } else {
                    repo.url = self.git_url(std::mem::take(&mut repo.url));
                }
                if default
                    .as_ref()
                    .is_some_and(|(url, r)| *url == repo.url && *r == repo.reference)
                {
                    *slot = None;
                }
            }
            env.releases.iter_mut().for_each(ReleaseConfig::settle_values_repo);
        }
    }
}
