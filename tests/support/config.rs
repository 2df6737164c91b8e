//! The config file tests write, built with typed setters instead of hand-written TOML:
//!
//! ```no_run
//! # use driftwatch_test_support::config::ConfigBuilder;
//! # let dir = std::path::Path::new("/tmp");
//! let cfg = ConfigBuilder::new(dir)
//!     .gitops(|g| g.path("gitops"))
//!     .environment("production", |e| e.paths(&["apps/*/production"]).snapshot("cluster.json"))
//!     .write();
//! ```
//!
//! Every setter writes the key of its name into its section; sections and array entries come
//! out in the order they were first set, so channel names (`slack-1`) and environment order
//! are what the test wrote. `other` sets a key the config does not know, for tests of the
//! error that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::write;

/// A TOML value of the kinds driftwatch's config uses.
#[derive(Clone, Debug)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    /// TOML written as is: an inline table (`{ replicaCount = 3 }`).
    Raw(String),
}

impl Value {
    fn toml(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Raw(text) => text.clone(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path_text(path: impl AsRef<Path>) -> String {
    path.as_ref().to_str().expect("a UTF-8 path").to_string()
}

/// The keys of one table, in the order they were set; setting a key again replaces it.
#[derive(Clone, Debug, Default)]
pub struct Table(Vec<(String, Value)>);

impl Table {
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn render(&self, out: &mut String) {
        for (key, value) in &self.0 {
            out.push_str(&format!("{key} = {}\n", value.toml()));
        }
    }
}

/// A setter per key, named as the key: `str` keys take `&str`, `path` keys any path, `int`,
/// `bool` and `list` (of strings) keys their Rust type.
macro_rules! setters {
    ($($kind:ident: $($key:ident),+;)*) => { $($(setters!(@one $kind $key);)+)* };
    (@one str $key:ident) => {
        pub fn $key(mut self, value: &str) -> Self { self.0.set(stringify!($key), Value::Str(value.into())); self }
    };
    (@one path $key:ident) => {
        pub fn $key(mut self, value: impl AsRef<Path>) -> Self { self.0.set(stringify!($key), Value::Str(path_text(value))); self }
    };
    (@one int $key:ident) => {
        pub fn $key(mut self, value: i64) -> Self { self.0.set(stringify!($key), Value::Int(value)); self }
    };
    (@one bool $key:ident) => {
        pub fn $key(mut self, value: bool) -> Self { self.0.set(stringify!($key), Value::Bool(value)); self }
    };
    (@one list $key:ident) => {
        pub fn $key(mut self, value: &[&str]) -> Self {
            self.0.set(stringify!($key), Value::List(value.iter().map(|s| s.to_string()).collect()));
            self
        }
    };
}

/// Sections: a newtype over its table with typed setters, and `other` for unknown keys.
macro_rules! section {
    ($(#[$doc:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default)]
        pub struct $name(Table);
        impl $name {
            setters! { $($body)* }
            /// A key the typed setters do not offer: one driftwatch must reject.
            pub fn other(mut self, key: &str, value: impl Into<Value>) -> Self {
                self.0.set(key, value.into());
                self
            }
        }
    };
}

section!(
    /// `[gitops]`
    Gitops { str: url, branch, rev, token_env, poll_interval, webhook_secret_env; path: path, cache_dir, webhook_secret_file; }
);
section!(
    /// `[render]`
    Render { str: kustomize, engine; bool: cache; path: cache_dir, helm; }
);
section!(
    /// `[watch]`
    Watch { str: debounce; bool: enabled; }
);
section!(
    /// `[state]`
    State { path: path; }
);
section!(
    /// `[store]`
    Store { str: url, password_env, retention; path: password_file; }
);
section!(
    /// `[dora]`
    Dora { str: failure_window, window; }
);
section!(
    /// `[audit]`
    Audit { str: fail_on, kube_timeout; int: page_size; }
);
section!(
    /// `[schedule]`
    Schedule { str: cron, shutdown_grace; bool: run_on_start; }
);
section!(
    /// `[server.auth]`: a bearer token, or a username with a password.
    ServerAuth {
        str: bearer_token_env, username, password_env;
        path: bearer_token_file, password_file;
        bool: protect_metrics, protect_healthz;
    }
);
section!(
    /// `[ha]`
    Ha { str: identity, lease_namespace, lease_duration, renew_interval; bool: enabled; path: kubeconfig; }
);
section!(
    /// `[alerts]`: delivery settings shared by every channel.
    Alerts { str: renotify_after, backoff, backoff_max, timeout; int: max_attempts; }
);
section!(
    /// One `[[alerts.slack]]` channel.
    Slack { str: webhook_url_env, min_severity; list: environments; }
);
section!(
    /// One `[[alerts.email]]` channel.
    Email { str: smtp_host, tls, username, password_env, from; int: smtp_port; path: ca_file; list: to; }
);
section!(
    /// One `[[alerts.webhook]]` channel.
    Webhook { str: url, bearer_token_env, hmac_secret_env; }
);
section!(
    /// One `[[alerts.alertmanager]]` channel.
    Alertmanager { str: url; }
);
section!(
    /// One `[[registries]]` entry.
    Registry { str: host, username_env, password_env, timeout, backoff; int: max_attempts; bool: insecure; }
);
section!(
    /// One `[[helm_repositories]]` entry.
    HelmRepository { str: url, username, password_env, timeout; path: password_file, ca_file; }
);
section!(
    /// One `[[environments.releases]]` entry, added with [`Environment::release`]; `values`
    /// takes the inline table's TOML (`{ replicaCount = 3 }`).
    Release {
        str: name, namespace, chart, repo, version, kube_version, engine;
        list: values_files, api_versions;
    }
);

impl Release {
    /// `values = <toml>`, an inline table written as is.
    pub fn values(mut self, toml: &str) -> Self {
        self.0.set("values", Value::Raw(toml.into()));
        self
    }
}

/// One `[[environments]]` entry; the cluster setters fill its `[environments.cluster]`,
/// [`Environment::release`] its `[[environments.releases]]`.
#[derive(Clone, Debug, Default)]
pub struct Environment(Table, Cluster, Vec<Table>);

impl Environment {
    setters! { str: promoted_from, renderer, engine, namespace; int: lineage_depth; bool: compare_secrets, require_digest; list: paths; }

    /// A `[[environments.releases]]` entry named `name` (a Helm release).
    pub fn release(mut self, name: &str, f: impl FnOnce(Release) -> Release) -> Self {
        let mut table = Table::default();
        table.set("name", Value::Str(name.into()));
        self.2.push(f(Release(table)).0);
        self
    }

    /// A key the typed setters do not offer: one driftwatch must reject.
    pub fn other(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.set(key, value.into());
        self
    }

    /// `[environments.cluster] name`.
    pub fn cluster_name(mut self, name: &str) -> Self {
        self.1 = self.1.name(name);
        self
    }
    pub fn snapshot(mut self, path: impl AsRef<Path>) -> Self {
        self.1 = self.1.snapshot(path);
        self
    }
    pub fn kubeconfig(mut self, path: impl AsRef<Path>) -> Self {
        self.1 = self.1.kubeconfig(path);
        self
    }
    pub fn context(mut self, context: &str) -> Self {
        self.1 = self.1.context(context);
        self
    }
    pub fn namespaces(mut self, namespaces: &[&str]) -> Self {
        self.1 = self.1.namespaces(namespaces);
        self
    }
    pub fn in_cluster(mut self, in_cluster: bool) -> Self {
        self.1 = self.1.in_cluster(in_cluster);
        self
    }
    /// `compare_configmaps`: `"true"` and `"false"` are written as booleans, anything else
    /// (`"auto"`) as a string.
    pub fn compare_configmaps(mut self, value: &str) -> Self {
        let value = match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            word => Value::Str(word.into()),
        };
        self.0.set("compare_configmaps", value);
        self
    }
}

section!(
    /// `[environments.cluster]`, set through [`Environment`].
    Cluster { str: name, context; path: snapshot, kubeconfig; list: namespaces; bool: in_cluster; }
);

/// A driftwatch config file under construction.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    path: PathBuf,
    /// Keys before any table (`log_format`).
    top: Table,
    /// `[name]` tables, in the order first set.
    tables: Vec<(&'static str, Table)>,
    /// `[[name]]` entries, in the order added.
    entries: Vec<Entry>,
}

/// One `[[name]]` entry, with its `[name.sub]` table if any (`[environments.cluster]`).
#[derive(Clone, Debug)]
struct Entry {
    name: &'static str,
    table: Table,
    sub: Option<(&'static str, Table)>,
    /// `[[name.sub]]` entries after it (`[[environments.releases]]`).
    entries: Vec<(&'static str, Table)>,
}

impl ConfigBuilder {
    /// A config that `write` puts in `dir/driftwatch.toml`, with its render cache in
    /// `dir/render-cache` and its state (the store `dir/driftwatch.db`) in `dir`: the defaults
    /// would be the user's cache directory and /var/lib/driftwatch, and tests keep to their own
    /// directory.
    pub fn new(dir: &Path) -> Self {
        Self::at(&dir.join("driftwatch.toml"))
            .render(|r| r.cache_dir(dir.join("render-cache")))
            .state(|s| s.path(dir.join("state.json")))
    }

    /// A config that `write` puts at `path`.
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            top: Table::default(),
            tables: Vec::new(),
            entries: Vec::new(),
        }
    }

    pub fn log_format(mut self, format: &str) -> Self {
        self.top.set("log_format", Value::Str(format.into()));
        self
    }

    /// `[server] listen`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.table("server").set("listen", Value::Str(addr.to_string()));
        self
    }

    /// `[server] probe_listen`.
    pub fn probe_listen(mut self, addr: SocketAddr) -> Self {
        self.table("server").set("probe_listen", Value::Str(addr.to_string()));
        self
    }

    /// `[server.auth]`.
    pub fn server_auth(self, f: impl FnOnce(ServerAuth) -> ServerAuth) -> Self {
        self.section("server.auth", |t| f(ServerAuth(t)).0)
    }

    pub fn gitops(self, f: impl FnOnce(Gitops) -> Gitops) -> Self {
        self.section("gitops", |t| f(Gitops(t)).0)
    }
    pub fn render(self, f: impl FnOnce(Render) -> Render) -> Self {
        self.section("render", |t| f(Render(t)).0)
    }
    pub fn watch(self, f: impl FnOnce(Watch) -> Watch) -> Self {
        self.section("watch", |t| f(Watch(t)).0)
    }
    pub fn state(self, f: impl FnOnce(State) -> State) -> Self {
        self.section("state", |t| f(State(t)).0)
    }
    pub fn store(self, f: impl FnOnce(Store) -> Store) -> Self {
        self.section("store", |t| f(Store(t)).0)
    }
    pub fn dora(self, f: impl FnOnce(Dora) -> Dora) -> Self {
        self.section("dora", |t| f(Dora(t)).0)
    }
    pub fn audit(self, f: impl FnOnce(Audit) -> Audit) -> Self {
        self.section("audit", |t| f(Audit(t)).0)
    }
    pub fn schedule(self, f: impl FnOnce(Schedule) -> Schedule) -> Self {
        self.section("schedule", |t| f(Schedule(t)).0)
    }
    pub fn ha(self, f: impl FnOnce(Ha) -> Ha) -> Self {
        self.section("ha", |t| f(Ha(t)).0)
    }

    /// `[ha]` for replica `identity`, electing through the Lease `driftwatch` in `namespace`
    /// of the API `kubeconfig` reaches, with a lease short enough for a test to see a
    /// takeover (2s, renewed every 200ms).
    pub fn replica(self, identity: &str, namespace: &str, kubeconfig: &Path) -> Self {
        self.ha(|h| {
            h.enabled(true)
                .identity(identity)
                .lease_namespace(namespace)
                .lease_duration("2s")
                .renew_interval("200ms")
                .kubeconfig(kubeconfig)
        })
    }
    pub fn alerts(self, f: impl FnOnce(Alerts) -> Alerts) -> Self {
        self.section("alerts", |t| f(Alerts(t)).0)
    }

    pub fn slack(self, f: impl FnOnce(Slack) -> Slack) -> Self {
        self.entry("alerts.slack", f(Slack::default()).0, None)
    }
    pub fn email(self, f: impl FnOnce(Email) -> Email) -> Self {
        self.entry("alerts.email", f(Email::default()).0, None)
    }
    pub fn webhook(self, f: impl FnOnce(Webhook) -> Webhook) -> Self {
        self.entry("alerts.webhook", f(Webhook::default()).0, None)
    }
    pub fn alertmanager(self, f: impl FnOnce(Alertmanager) -> Alertmanager) -> Self {
        self.entry("alerts.alertmanager", f(Alertmanager::default()).0, None)
    }
    pub fn registry(self, f: impl FnOnce(Registry) -> Registry) -> Self {
        self.entry("registries", f(Registry::default()).0, None)
    }
    pub fn helm_repository(self, f: impl FnOnce(HelmRepository) -> HelmRepository) -> Self {
        self.entry("helm_repositories", f(HelmRepository::default()).0, None)
    }

    /// An `[[environments]]` entry named `name`.
    pub fn environment(self, name: &str, f: impl FnOnce(Environment) -> Environment) -> Self {
        let mut table = Table::default();
        table.set("name", Value::Str(name.into()));
        let Environment(table, Cluster(cluster), releases) = f(Environment(table, Cluster::default(), Vec::new()));
        let cluster = (!cluster.0.is_empty()).then_some(("environments.cluster", cluster));
        let mut out = self.entry("environments", table, cluster);
        if let Some(last) = out.entries.last_mut() {
            last.entries = releases.into_iter().map(|r| ("environments.releases", r)).collect();
        }
        out
    }

    /// Writes the file; its path.
    pub fn write(&self) -> PathBuf {
        self.write_to(&self.path);
        self.path.clone()
    }

    /// Writes the file at `path` instead.
    pub fn write_to(&self, path: &Path) {
        write(path, &self.toml());
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        let mut out = String::new();
        self.top.render(&mut out);
        for (name, table) in self.tables.iter().filter(|(_, t)| !t.0.is_empty()) {
            out.push_str(&format!("\n[{name}]\n"));
            table.render(&mut out);
        }
        for Entry {
            name,
            table,
            sub,
            entries,
        } in &self.entries
        {
            out.push_str(&format!("\n[[{name}]]\n"));
            table.render(&mut out);
            if let Some((sub_name, sub)) = sub {
                out.push_str(&format!("[{sub_name}]\n"));
                sub.render(&mut out);
            }
            for (entry_name, entry) in entries {
                out.push_str(&format!("[[{entry_name}]]\n"));
                entry.render(&mut out);
            }
        }
        out
    }

    fn table(&mut self, name: &'static str) -> &mut Table {
        let i = match self.tables.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.tables.push((name, Table::default()));
                self.tables.len() - 1
            }
        };
        &mut self.tables[i].1
    }

    fn section(mut self, name: &'static str, f: impl FnOnce(Table) -> Table) -> Self {
        let table = self.table(name);
        *table = f(std::mem::take(table));
        self
    }

    fn entry(mut self, name: &'static str, table: Table, sub: Option<(&'static str, Table)>) -> Self {
        self.entries.push(Entry {
            name,
            table,
            sub,
            entries: Vec::new(),
        });
        self
    }
}
