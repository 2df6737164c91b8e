//! Raw config → typed config, one file per section. Every error names the file and the key
//! (`driftwatch.toml: audit.rollout_grace: …`); relative paths are taken relative to the
//! config file.

mod alerts;
mod audit;
mod discovery;
mod environments;
mod gitops;
mod policies;
mod registries;
mod releases;
mod service;
mod store;

use super::raw::RawConfig;
use super::{Config, ConfigError, Overrides};
use crate::core::model::Severity;
pub(crate) use crate::settings::Validator;

impl Validator<'_> {
    /// Validates every section, each on its own, and returns the config when every section
    /// yielded one, with every problem found (in this order: alerts come after environments
    /// because channels route by environment name). The config is only used when there are no
    /// problems, or by `check-config` to check files and paths further.
    pub(crate) fn config(&self, mut raw: RawConfig, overrides: &Overrides) -> (Option<Config>, Vec<ConfigError>) {
        let env_names: Vec<String> = raw.environments.iter().map(|e| e.name.clone()).collect();
        let git_updates = self.keep(self.git_updates(&mut raw.gitops));
        let repositories = self.keep(self.repositories(&mut raw.gitops));
        let discovery = self.keep(self.discovery(raw.discovery));
        let has_discovery = discovery.as_ref().is_some_and(|d| d.is_configured());
        // `[gitops]` names the default repository: needed unless discovery finds the
        // repositories or every source names its own (a config `driftwatch discover` printed).
        let needs_default = !has_discovery && !super::raw::every_source_names_its_repository(&raw.environments);
        let gitops = self.keep(self.gitops(raw.gitops, !needs_default));
        if let (Some(crate::config::GitopsConfig::Unset), Some(d)) = (&gitops, &discovery)
            && d.argocd.as_ref().is_some_and(|a| !a.paths.is_empty())
        {
            self.record(self.invalid(
                "discovery.argocd.paths",
                "Application manifests are read from the [gitops] repository: set gitops.url (or gitops.path), or list Applications from a cluster",
            ));
        }
        if let (Some(crate::config::GitopsConfig::Unset), Some(d)) = (&gitops, &discovery)
            && d.flux.as_ref().is_some_and(|f| !f.paths.is_empty())
        {
            self.record(self.invalid(
                "discovery.flux.paths",
                "Flux manifests are read from the [gitops] repository: set gitops.url (or gitops.path), or list them from a cluster",
            ));
        }
        let audit = self.keep(self.audit(raw.audit, raw.registry_rewrites, overrides));
        let render = self.keep(self.render(raw.render));
        let watch = self.keep(self.watch(raw.watch));
        let mut environments = self.keep(self.environments(raw.environments, has_discovery));
        if let (Some(g), Some(envs)) = (&gitops, &mut environments) {
            self.resolve_repos(g, envs);
            self.promotion_repositories(envs);
        }
        let state = self.state(raw.state);
        let store = self.keep(self.store(raw.store, &state));
        let alerts = self.keep(self.alerts(raw.alerts, &env_names));
        let dora = self.keep(self.dora(raw.dora));
        let schedule = self.keep(self.schedule(raw.schedule));
        let server = self.keep(self.server(raw.server));
        let ha = self.keep(self.ha(raw.ha));
        let registries = self.keep(self.registries(raw.registries));
        let helm_repositories = self.keep(self.helm_repositories(raw.helm_repositories));
        let log_format = self.keep(self.log_format(raw.log_format));
        let policies = self.keep(self.policies(raw.policies, &env_names, has_discovery));
        // `[ha] advertise_address` (or POD_IP) without a port takes the listen port.
        let ha = ha.map(|ha| {
            ha.map(|mut ha| {
                if let (Some(addr), Some(server)) = (&ha.advertise, &server) {
                    ha.advertise = Some(with_port(addr, server.listen.port()));
                }
                ha
            })
        });
        let errors = self.errors.take();
        let config = (|| {
            Some(Config {
                origin: self.origin.to_string(),
                gitops: gitops?,
                git_updates: git_updates?,
                audit: audit?,
                render: render?,
                watch: watch?,
                environments: environments?,
                repositories: repositories?,
                discovery: discovery?,
                discovered: Vec::new(),
                discovery_problems: Vec::new(),
                discovered_by: std::collections::BTreeMap::new(),
                state,
                store: store?,
                dora: dora?,
                alerts: alerts?,
                schedule: schedule?,
                server: server?,
                ha: ha?,
                log_format: log_format?,
                registries: registries?,
                helm_repositories: helm_repositories?,
                policies: policies?,
                written: self.written.take(),
            })
        })();
        (config, errors)
    }

    /// `info`, `warning` or `critical` (`audit.fail_on`, a channel's `min_severity`). Here
    /// rather than in `settings`, which knows no domain types.
    pub(crate) fn severity(
        &self,
        key: &str,
        value: Option<String>,
        default: Severity,
    ) -> Result<Severity, ConfigError> {
        match value {
            None => Ok(default),
            Some(s) => Ok(Severity::parse(&s).unwrap_or_else(|| {
                self.record(self.invalid(key, format!("{s:?} is not one of info, warning, critical")));
                default
            })),
        }
    }
}

/// `addr` as `host:port`: an address with a port is kept, an IP (v4 or v6) or host name gets
/// `port`.
fn with_port(addr: &str, port: u16) -> String {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_string();
    }
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) if addr.contains(':') => addr.to_string(),
        Err(_) => format!("{addr}:{port}"),
    }
}
