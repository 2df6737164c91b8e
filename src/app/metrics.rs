//! Prometheus metrics of the daemon, served at `/metrics` in the OpenMetrics text format
//! (which Prometheus scrapes natively).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::audit::Timings;
use crate::core::report::{Report, Status};
use crate::sources::cluster::watch::WatchStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    environment: String,
    r#type: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvironmentLabel {
    environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    environment: String,
    quantile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SampleLabels {
    environment: String,
    metric: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabel {
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    cluster: String,
    resource: String,
    /// Empty for a cluster-wide watch.
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenderLabels {
    engine: String,
    reason: String,
    /// `kustomize`, `plain` or `helm`.
    renderer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    trigger: String,
    result: String,
}

fn seconds_histogram() -> Histogram {
    // 50 ms … ~14 min
    Histogram::new(exponential_buckets(0.05, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    findings: Family<FindingLabels, Gauge>,
    audit_duration: Histogram,
    audits: Family<ResultLabel, Counter>,
    last_success: Family<EnvironmentLabel, Gauge>,
    skipped: Counter,
    notification_failures: Family<ChannelLabel, Counter>,
    git_fetch: Histogram,
    kube_list: Family<ClusterLabel, Histogram>,
    leader: Gauge,
    reloads: Family<ResultLabel, Counter>,
    renders: Family<RenderLabels, Counter>,
    watch_events: Family<WatchLabels, Counter>,
    watch_restarts: Family<WatchLabels, Counter>,
    watch_objects: Family<WatchLabels, Gauge>,
    watch_last_event: Family<WatchLabels, Gauge>,
    watch_initial_sync: Family<WatchLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Event and restart counts already added to the counters, per watcher: the watchers keep
    /// running totals, Prometheus counters only go up by increments.
    watch_seen: std::sync::Mutex<std::collections::HashMap<WatchLabels, (u64, u64)>>,
    render_cache: Family<ResultLabel, Counter>,
    last_reload_ok: Gauge,
    git_fetches: Family<FetchLabels, Counter>,
    git_webhook_requests: Family<ResultLabel, Counter>,
    http_unauthorized: Family<ReasonLabel, Counter>,
    dora_per_week: Family<EnvironmentLabel, FloatGauge>,
    dora_lead_time: Family<QuantileLabels, Gauge>,
    dora_failure_rate: Family<EnvironmentLabel, FloatGauge>,
    dora_restore: Family<QuantileLabels, Gauge>,
    dora_samples: Family<SampleLabels, Gauge>,
    discovered: Family<SourceLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(
        clippy::too_many_lines,
        reason = "a flat registration table: one register call per metric with its name and help"
    )]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("driftwatch");
        let findings = Family::<FindingLabels, Gauge>::default();
        registry.register(
            "findings",
            "Findings of the latest audit, by environment, type and severity",
            findings.clone(),
        );
        let audit_duration = seconds_histogram();
        registry.register(
            "audit_duration_seconds",
            "Duration of audits (audit and alert delivery)",
            audit_duration.clone(),
        );
        let audits = Family::<ResultLabel, Counter>::default();
        registry.register(
            "audits",
            "Audits run, by result (ok, error: an environment failed, timeout)",
            audits.clone(),
        );
        let last_success = Family::<EnvironmentLabel, Gauge>::default();
        registry.register(
            "last_successful_audit_timestamp_seconds",
            "Unix time of the last audit of the environment that completed without error",
            last_success.clone(),
        );
        let skipped = Counter::default();
        registry.register(
            "audits_skipped",
            "Scheduled audits skipped because the previous one was still running",
            skipped.clone(),
        );
        let notification_failures = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "notification_failures",
            "Alert deliveries that failed, by channel",
            notification_failures.clone(),
        );
        let git_fetch = seconds_histogram();
        registry.register(
            "git_fetch_duration_seconds",
            "Duration of the GitOps fetch and checkout",
            git_fetch.clone(),
        );
        let kube_list = Family::<ClusterLabel, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register(
            "kube_list_duration_seconds",
            "Duration of listing one cluster (all LIST calls)",
            kube_list.clone(),
        );
        let renders = Family::<RenderLabels, Counter>::default();
        registry.register(
            "renders",
            "Paths and Helm releases rendered (not served from the render cache), by renderer (kustomize, plain, helm), engine (builtin, external, plain) and the reason a render went to the external kustomize or helm",
            renders.clone(),
        );
        let render_cache = Family::<ResultLabel, Counter>::default();
        registry.register(
            "render_cache_lookups",
            "Kustomization renders looked up in the render cache, by result (hit, miss)",
            render_cache.clone(),
        );
        let watch_events = Family::<WatchLabels, Counter>::default();
        registry.register(
            "watch_events",
            "Watch events applied to the in-memory stores, by cluster, resource and namespace",
            watch_events.clone(),
        );
        let watch_restarts = Family::<WatchLabels, Counter>::default();
        registry.register(
            "watch_restarts",
            "Watches that had to list again (410 Gone, a failure), by cluster, resource and namespace",
            watch_restarts.clone(),
        );
        let watch_objects = Family::<WatchLabels, Gauge>::default();
        registry.register(
            "watch_objects",
            "Objects held in the in-memory stores, by cluster, resource and namespace",
            watch_objects.clone(),
        );
        let watch_last_event = Family::<WatchLabels, Gauge>::default();
        registry.register(
            "watch_last_event_timestamp_seconds",
            "Unix time of the last watch event applied, by cluster, resource and namespace",
            watch_last_event.clone(),
        );
        let watch_initial_sync = Family::<WatchLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "watch_initial_sync_seconds",
            "How long each watch's initial sync took",
            watch_initial_sync.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica audits (leader, or HA disabled), else 0",
            leader.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads (SIGHUP or POST /-/reload), by result (ok, error)",
            reloads.clone(),
        );
        let last_reload_ok = Gauge::default();
        registry.register(
            "config_last_reload_successful",
            "1 if the last config reload succeeded (or none was tried), else 0",
            last_reload_ok.clone(),
        );
        last_reload_ok.set(1);
        let git_fetches = Family::<FetchLabels, Counter>::default();
        registry.register(
            "git_fetches",
            "Fetches of the GitOps repository between audits, by trigger (poll, webhook) and result (new_commit, unchanged, error)",
            git_fetches.clone(),
        );
        let git_webhook_requests = Family::<ResultLabel, Counter>::default();
        registry.register(
            "git_webhook_requests",
            "Requests to POST /hooks/git, by result (accepted: a fetch follows, unauthorized: bad or missing signature, ignored: valid but nothing to fetch)",
            git_webhook_requests.clone(),
        );
        let http_unauthorized = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "http_unauthorized_requests",
            "HTTP requests refused by [server.auth], by reason (missing, malformed, wrong credential)",
            http_unauthorized.clone(),
        );
        let dora_per_week = Family::<EnvironmentLabel, FloatGauge>::default();
        registry.register(
            "dora_deployments_per_week",
            "Completed deployments per week over [dora] window, by environment",
            dora_per_week.clone(),
        );
        let dora_lead_time = Family::<QuantileLabels, Gauge>::default();
        registry.register_with_unit(
            "dora_lead_time",
            "Lead time for changes (first commit of the digest in the promotion chain to every Pod on it), median (0.5) and p90 (0.9), by environment",
            prometheus_client::registry::Unit::Seconds,
            dora_lead_time.clone(),
        );
        let dora_failure_rate = Family::<EnvironmentLabel, FloatGauge>::default();
        registry.register(
            "dora_change_failure_rate",
            "Share of deployments followed within [dora] failure_window by a rollback, a hand hotfix or a revert, by environment",
            dora_failure_rate.clone(),
        );
        let dora_restore = Family::<QuantileLabels, Gauge>::default();
        registry.register_with_unit(
            "dora_time_to_restore",
            "Time from a failed deployment to a declared, non-drifting digest again, median (0.5) and p90 (0.9), by environment",
            prometheus_client::registry::Unit::Seconds,
            dora_restore.clone(),
        );
        let dora_samples = Family::<SampleLabels, Gauge>::default();
        registry.register(
            "dora_samples",
            "How many samples each DORA figure is computed from (deployments, lead_time, time_to_restore), by environment",
            dora_samples.clone(),
        );
        let discovered = Family::<SourceLabel, Gauge>::default();
        registry.register(
            "discovered_environments",
            "Environments the latest discovery derived, by source (argocd, flux); present only with [discovery]",
            discovered.clone(),
        );
        // Present at 0 from the start, so that an alert on a rate of unauthorized requests
        // works before the first one.
        for result in ["accepted", "unauthorized", "ignored"] {
            let _ = git_webhook_requests.get_or_create(&ResultLabel { result: result.into() });
        }
        Self {
            registry,
            findings,
            audit_duration,
            audits,
            last_success,
            skipped,
            notification_failures,
            git_fetch,
            kube_list,
            leader,
            reloads,
            last_reload_ok,
            renders,
            render_cache,
            git_fetches,
            git_webhook_requests,
            http_unauthorized,
            watch_events,
            watch_restarts,
            watch_objects,
            watch_last_event,
            watch_initial_sync,
            watch_seen: std::sync::Mutex::default(),
            dora_per_week,
            dora_lead_time,
            dora_failure_rate,
            dora_restore,
            dora_samples,
            discovered,
        }
    }

    /// The DORA figures of each environment; a figure without samples is absent, not 0: an
    /// environment without deployments has no rate (no data, not a rate of 0), only
    /// `dora_samples{metric="deployments"} 0`.
    pub fn dora(&self, report: &crate::core::dora::DoraReport) {
        for family in [&self.dora_lead_time, &self.dora_restore] {
            family.clear();
        }
        self.dora_failure_rate.clear();
        self.dora_per_week.clear();
        for e in &report.environments {
            let f = &e.figures;
            let env = EnvironmentLabel {
                environment: e.name.clone(),
            };
            if f.deployments > 0 {
                self.dora_per_week.get_or_create(&env).set(f.deployments_per_week);
            }
            if let Some(r) = f.change_failure_rate {
                self.dora_failure_rate.get_or_create(&env).set(r);
            }
            for (family, stat) in [
                (&self.dora_lead_time, &f.lead_time_seconds),
                (&self.dora_restore, &f.time_to_restore_seconds),
            ] {
                for (q, v) in [("0.5", stat.median), ("0.9", stat.p90)] {
                    if let Some(v) = v {
                        let labels = QuantileLabels {
                            environment: e.name.clone(),
                            quantile: q.into(),
                        };
                        family.get_or_create(&labels).set(v);
                    }
                }
            }
            for (metric, n) in [
                ("deployments", f.deployments),
                ("lead_time", f.lead_time_seconds.samples),
                ("time_to_restore", f.time_to_restore_seconds.samples),
            ] {
                let labels = SampleLabels {
                    environment: e.name.clone(),
                    metric: metric.into(),
                };
                self.dora_samples.get_or_create(&labels).set(n as i64);
            }
        }
    }

    /// Records a finished audit.
    pub fn audit(&self, report: &Report, timings: &Timings, took: Duration) {
        self.audit_duration.observe(took.as_secs_f64());
        let result = if report.summary.errors > 0 { "error" } else { "ok" };
        self.audits.get_or_create(&ResultLabel { result: result.into() }).inc();
        self.findings.clear();
        for f in &report.findings {
            let labels = FindingLabels {
                environment: f.environment.clone(),
                r#type: f.kind.to_string(),
                severity: f.severity.to_string(),
            };
            self.findings.get_or_create(&labels).inc();
        }
        for e in report.environments.iter().filter(|e| e.status == Status::Ok) {
            self.last_success
                .get_or_create(&EnvironmentLabel {
                    environment: e.name.clone(),
                })
                .set(report.finished_at.timestamp());
        }
        let paths = report.environments.iter().flat_map(|e| &e.paths).map(|p| {
            let renderer = if p.renderer == "plain" { "plain" } else { "kustomize" };
            (renderer, p.renderer.as_str(), p.cached)
        });
        let releases = report
            .environments
            .iter()
            .flat_map(|e| &e.releases)
            .map(|r| ("helm", r.renderer.as_str(), r.cached));
        for (renderer, how, cached) in paths.chain(releases) {
            if renderer != "plain" {
                let result = if cached { "hit" } else { "miss" };
                self.render_cache
                    .get_or_create(&ResultLabel { result: result.into() })
                    .inc();
            }
            if !cached {
                let (engine, reason) = render_labels(how);
                self.renders
                    .get_or_create(&RenderLabels {
                        engine: engine.into(),
                        reason: reason.into(),
                        renderer: renderer.into(),
                    })
                    .inc();
            }
        }
        if let Some(git) = timings.git_fetch {
            self.git_fetch.observe(git.as_secs_f64());
        }
        for (cluster, took) in &timings.kube_list {
            self.kube_list
                .get_or_create(&ClusterLabel {
                    cluster: cluster.clone(),
                })
                .observe(took.as_secs_f64());
        }
    }

    /// The figures of one cluster's watchers.
    pub fn watch(&self, cluster: &str, stats: &[WatchStats]) {
        let mut seen = self.watch_seen.lock().unwrap_or_else(|e| e.into_inner());
        for s in stats {
            let labels = WatchLabels {
                cluster: cluster.to_string(),
                resource: s.resource.to_string(),
                namespace: s.namespace.clone().unwrap_or_default(),
            };
            let (events, restarts) = seen.entry(labels.clone()).or_default();
            self.watch_events
                .get_or_create(&labels)
                .inc_by(s.events.saturating_sub(*events));
            self.watch_restarts
                .get_or_create(&labels)
                .inc_by(s.restarts.saturating_sub(*restarts));
            (*events, *restarts) = (s.events.max(*events), s.restarts.max(*restarts));
            self.watch_objects
                .get_or_create(&labels)
                .set(i64::try_from(s.objects).unwrap_or(i64::MAX));
            if let Some(t) = s.last_event {
                self.watch_last_event.get_or_create(&labels).set(t.timestamp());
            }
            if let Some(d) = s.initial_sync {
                self.watch_initial_sync.get_or_create(&labels).set(d.as_secs_f64());
            }
        }
    }

    pub fn audit_timed_out(&self, took: Duration) {
        self.audit_duration.observe(took.as_secs_f64());
        self.audits
            .get_or_create(&ResultLabel {
                result: "timeout".into(),
            })
            .inc();
    }

    pub fn skipped(&self) {
        self.skipped.inc();
    }

    pub fn notification_failed(&self, channel: &str) {
        self.notification_failures
            .get_or_create(&ChannelLabel {
                channel: channel.into(),
            })
            .inc();
    }

    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        self.last_reload_ok.set(i64::from(ok));
    }

    /// A fetch between audits (`trigger`: poll, webhook; `result`: new_commit, unchanged,
    /// error), timed with the audits' own fetches.
    pub fn git_fetched(&self, trigger: &str, result: &str, took: Duration) {
        self.git_fetch.observe(took.as_secs_f64());
        self.git_fetches
            .get_or_create(&FetchLabels {
                trigger: trigger.into(),
                result: result.into(),
            })
            .inc();
    }

    /// A request to `POST /hooks/git` (`result`: accepted, unauthorized, ignored).
    /// A request refused by `[server.auth]`.
    pub fn http_unauthorized(&self, reason: &str) {
        self.http_unauthorized
            .get_or_create(&ReasonLabel { reason: reason.into() })
            .inc();
    }

    pub fn git_webhook(&self, result: &str) {
        self.git_webhook_requests
            .get_or_create(&ResultLabel { result: result.into() })
            .inc();
    }

    /// The environments discovery derived into `cfg` (its `discovered`), by source.
    pub fn discovered(&self, cfg: &crate::config::Config) {
        let d = &cfg.discovery;
        for (source, on) in [("argocd", d.argocd.is_some()), ("flux", d.flux.is_some())] {
            if !on {
                continue;
            }
            let count = cfg.discovered_by.get(source).copied().unwrap_or(0);
            self.discovered
                .get_or_create(&SourceLabel { source: source.into() })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The `engine` and `reason` labels of a path's renderer (`builtin`, `external: uses
/// vars`). The built-in renderer's error text names files and lines: an overlay it failed
/// on counts under the one reason `built-in renderer failed`.
fn render_labels(renderer: &str) -> (&str, &str) {
    let (engine, reason) = renderer.split_once(": ").unwrap_or((renderer, ""));
    match reason.split_once(": ") {
        Some((failed @ "built-in renderer failed", _)) => (engine, failed),
        _ => (engine, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{PathRender, ReleaseRender};
    use crate::core::report::{EnvironmentResult, GitopsInfo, Status};

    /// Kustomize paths and Helm releases are counted apart (`renderer`), cached ones as hits.
    #[test]
    fn renders_are_counted_by_renderer_and_engine() {
        let release = |name: &str, renderer: &str, cached: bool| ReleaseRender {
            release: name.into(),
            namespace: "shop".into(),
            chart: "charts/shop".into(),
            version: None,
            digest: None,
            renderer: renderer.into(),
            cached,
        };
        let env = EnvironmentResult {
            name: "production".into(),
            cluster: "c".into(),
            status: Status::Ok,
            errors: Vec::new(),
            incomplete: Vec::new(),
            declared_workloads: 0,
            live_workloads: 0,
            declared: Vec::new(),
            paths: vec![PathRender {
                path: "apps/api".into(),
                renderer: "builtin".into(),
                cached: false,
            }],
            releases: vec![
                release("shop", "external: uses lookup", false),
                release("web", "external", false),
                release("cache", "external", true),
            ],
            runs: Vec::new(),
        };
        let now = chrono::Utc::now();
        let gitops = GitopsInfo {
            url: "g".into(),
            commit: None,
        };
        let report = Report::new(now, now, gitops, vec![env], Vec::new());
        let metrics = Metrics::new();
        metrics.audit(&report, &Timings::default(), Duration::from_secs(1));
        let text = metrics.encode();
        for line in [
            "driftwatch_renders_total{engine=\"builtin\",reason=\"\",renderer=\"kustomize\"} 1",
            "driftwatch_renders_total{engine=\"external\",reason=\"uses lookup\",renderer=\"helm\"} 1",
            "driftwatch_renders_total{engine=\"external\",reason=\"\",renderer=\"helm\"} 1",
            "driftwatch_render_cache_lookups_total{result=\"hit\"} 1",
            "driftwatch_render_cache_lookups_total{result=\"miss\"} 3",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn render_reasons_stay_few() {
        assert_eq!(render_labels("builtin"), ("builtin", ""));
        assert_eq!(render_labels("external: uses vars"), ("external", "uses vars"));
        assert_eq!(
            render_labels("external: built-in renderer failed: a/d.yaml: document 2: bad"),
            ("external", "built-in renderer failed")
        );
    }
}
