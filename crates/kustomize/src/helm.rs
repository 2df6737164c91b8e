//! `helmCharts:` and `helmGlobals` (kustomize's Helm inflator): each chart rendered with the
//! arguments kustomize gives `helm template`, its documents joining the resources as a
//! generator's do (after `configMapGenerator` and `secretGenerator`, before components).
//!
//! The sources are kustomize v5.5.0's `api/internal/builtins/HelmChartInflationGenerator.go`
//! (chart location, values, `valuesMerge`) and `api/types/helmchartargs.go` (`AsHelmArgs`). This
//! crate renders no Helm itself: the caller passes a [`HelmTemplate`] (driftwatch's is the `helm`
//! crate), and without one an overlay with `helmCharts` is `Unsupported`, left to kustomize.
//! What it leaves to kustomize even with one: a chart it would `helm pull` (a `repo` whose
//! chart is not under `chartHome`), a release without `releaseName` (Helm names it after the
//! clock), `nameTemplate`, and inline values whose merge depends on YAML that a JSON value no
//! longer has (nulls, `$patch`).

use serde_json::{Map, Value};

use super::kustomization::{HelmChart, HelmGlobals, Kustomization};
use super::resource::{ResMap, Resource};
use super::{BuildError, Ctx, files};

/// One chart as kustomize hands it to `helm template`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inflation {
    /// The chart's directory (repository-relative), for messages.
    pub chart_dir: String,
    /// The chart's files, paths relative to its directory, as the repository holds them
    /// (`.helmignore` not applied: that is Helm's loading).
    pub chart_files: Vec<(String, Vec<u8>)>,
    /// `helm template NAME`.
    pub release_name: String,
    /// `--namespace`; `None`: none passed (Helm's default namespace).
    pub namespace: Option<String>,
    /// `-f`, in order: a label for messages and the file's bytes.
    pub values_files: Vec<(String, Vec<u8>)>,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions`, in order.
    pub api_versions: Vec<String>,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--no-hooks`.
    pub skip_hooks: bool,
}

/// `helm template`, as the caller implements it.
pub trait HelmTemplate: Sync {
    /// What `helm template` prints on stdout for `chart`. `Unsupported` leaves the overlay to
    /// kustomize (with the reason); `Invalid` is Helm's error.
    fn template(&self, chart: &Inflation) -> Result<String, BuildError>;
}

/// The `valuesMerge` modes kustomize accepts.
const MERGE_OPTIONS: [&str; 3] = ["merge", "override", "replace"];

/// Renders the kustomization's `helmCharts` into `res`. Every entry is checked first (as
/// kustomize configures every generator before running one), then each renders in turn.
pub fn run(ctx: &Ctx<'_>, dir: &str, k: &Kustomization, res: &mut ResMap) -> Result<(), BuildError> {
    let charts = k.helm_charts.as_deref().unwrap_or_default();
    if charts.is_empty() {
        return Ok(());
    }
    let Some(helm) = ctx.helm else {
        return Err(BuildError::Unsupported("uses helmCharts".into()));
    };
    let globals = k.helm_globals.clone().unwrap_or_default();
    let configured = charts
        .iter()
        .map(|c| configure(ctx, dir, &globals, c))
        .collect::<Result<Vec<_>, _>>()?;
    for chart in configured {
        let inflation = inflate(ctx, dir, &chart)?;
        let text = helm.template(&inflation)?;
        let label = format!("helm template {}", chart.args.name);
        for obj in super::load::resources_in(&label, &text)? {
            super::generators::absorb(res, Resource::new(obj))?;
        }
    }
    Ok(())
}

/// A `helmCharts` entry after kustomize's `validateArgs`.
struct Configured {
    args: HelmChart,
    /// `{chartHome}` (`/{name}-{version}` when both `repo` and `version` are set), repository-relative.
    home: String,
    /// The values file kustomize reads (given, or the chart's `values.yaml`), repository-relative.
    values_file: String,
    /// `additionalValuesFiles`, read.
    additional: Vec<(String, Vec<u8>)>,
    merge: String,
}

fn configure(ctx: &Ctx<'_>, dir: &str, globals: &HelmGlobals, c: &HelmChart) -> Result<Configured, BuildError> {
    if c.name.is_empty() {
        return Err(BuildError::Invalid("chart name cannot be empty".into()));
    }
    let chart_home = globals
        .chart_home
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or("charts");
    let mut home = files::join(dir, chart_home).map_err(|e| {
        BuildError::Unsupported(format!("uses helmCharts with a chartHome outside the repository ({e})"))
    })?;
    if let (Some(version), Some(_)) = (
        c.version.as_deref().filter(|v| !v.is_empty()),
        c.repo.as_deref().filter(|r| !r.is_empty()),
    ) {
        home = files::join(&home, &format!("{}-{version}", c.name)).map_err(BuildError::invalid)?;
    }
    let values_file = match c.values_file.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => files::join(dir, f).map_err(BuildError::invalid)?,
        None => files::join(&home, &format!("{}/values.yaml", c.name)).map_err(BuildError::invalid)?,
    };
    let mut additional = Vec::new();
    for f in &c.additional_values_files {
        let text = ctx
            .read_in(dir, f)
            .map_err(|e| BuildError::Invalid(format!("could not load additionalValuesFile: {e}")))?;
        additional.push((f.clone(), text.into_bytes()));
    }
    let merge = match c.values_merge.as_deref().unwrap_or("") {
        "" => "override".to_string(),
        m if MERGE_OPTIONS.contains(&m) => m.to_string(),
        _ => {
            return Err(BuildError::Invalid(
                "valuesMerge must be one of [merge override replace]".into(),
            ));
        }
    };
    Ok(Configured {
        args: c.clone(),
        home,
        values_file,
        additional,
        merge,
    })
}

/// What `helm template` is given for `c`: the chart from `chartHome`, the values file (merged
/// with `valuesInline` as `valuesMerge` says), then `additionalValuesFiles`.
fn inflate(ctx: &Ctx<'_>, dir: &str, c: &Configured) -> Result<Inflation, BuildError> {
    let chart_dir = files::join(&c.home, &c.args.name).map_err(BuildError::invalid)?;
    if ctx.kind(&chart_dir) != Some(files::Kind::Dir) {
        return match c.args.repo.as_deref().filter(|r| !r.is_empty()) {
            // kustomize names the path it found nothing at: the empty one.
            None => Err(BuildError::Invalid(
                "no repo specified for pull, no chart found at ''".into(),
            )),
            Some(_) => Err(BuildError::Unsupported(
                "uses helmCharts with a chart to pull from its repo".into(),
            )),
        };
    }
    let release_name = match (
        c.args.release_name.as_deref().filter(|n| !n.is_empty()),
        &c.args.name_template,
    ) {
        (_, Some(t)) if !t.is_empty() => return Err(BuildError::Unsupported("uses helmCharts nameTemplate".into())),
        (Some(name), _) => name.to_string(),
        // `--generate-name`: Helm names the release `<chart>-<unix time>`.
        (None, _) => return Err(BuildError::Unsupported("uses helmCharts without releaseName".into())),
    };
    let chart_files = chart_files(ctx, &chart_dir)?;
    let mut values_files = vec![(c.values_file.clone(), values(ctx, dir, c)?)];
    values_files.extend(c.additional.iter().cloned());
    Ok(Inflation {
        chart_dir,
        chart_files,
        release_name,
        namespace: c.args.namespace.clone().filter(|n| !n.is_empty()),
        values_files,
        kube_version: c.args.kube_version.clone().filter(|v| !v.is_empty()),
        api_versions: c.args.api_versions.clone(),
        include_crds: c.args.include_crds,
        skip_tests: c.args.skip_tests,
        skip_hooks: c.args.skip_hooks,
    })
}

/// Every file of the chart directory `chart_dir`, recorded as one dependency (the tree).
fn chart_files(ctx: &Ctx<'_>, chart_dir: &str) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    ctx.note(&format!("{chart_dir}/"));
    let Some(paths) = ctx.files.files_below(chart_dir) else {
        return Err(BuildError::Unsupported(
            "uses helmCharts in a snapshot whose directories cannot be listed".into(),
        ));
    };
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let data = ctx.files.read(&path).map_err(BuildError::invalid)?;
        let rel = path
            .strip_prefix(chart_dir)
            .map_or(path.as_str(), |r| r.trim_start_matches('/'));
        out.push((rel.to_string(), data));
    }
    Ok(out)
}

/// The values file kustomize writes for helm: the values file as it is without `valuesInline`;
/// with it, `valuesInline` alone (`replace`), over the file (`override`) or under it (`merge`).
fn values(ctx: &Ctx<'_>, dir: &str, c: &Configured) -> Result<Vec<u8>, BuildError> {
    let inline = c.args.values_inline.clone().unwrap_or_default();
    let read_file = || -> Result<String, BuildError> {
        // kustomize's loader: the file must be in or below the kustomization.
        if !files::is_within(&c.values_file, dir) {
            return Err(BuildError::Invalid(format!(
                "security; file '{}' is not in or below '{}'",
                c.values_file,
                files::display(dir)
            )));
        }
        ctx.read(&c.values_file)
    };
    if inline.is_empty() {
        return Ok(read_file()?.into_bytes());
    }
    let merged = match c.merge.as_str() {
        "replace" => inline,
        mode => {
            let file = values_map(&c.values_file, &read_file()?)?;
            for v in [&file, &inline] {
                if !plain(v) {
                    return Err(BuildError::Unsupported(
                        "uses helmCharts valuesInline merged with null values or patch directives".into(),
                    ));
                }
            }
            // kyaml's merge2.Merge(src, dest): src's fields win.
            if mode == "override" {
                merge(inline, file)
            } else {
                merge(file, inline)
            }
        }
    };
    serde_json::to_vec(&Value::Object(merged)).map_err(|e| BuildError::Invalid(e.to_string()))
}

/// A values file as kyaml parses it for the merge: one mapping.
fn values_map(path: &str, text: &str) -> Result<Map<String, Value>, BuildError> {
    let (docs, err) = safe_yaml::documents(text);
    if let Some(e) = err {
        return Err(BuildError::Invalid(format!(
            "could not parse values file into rnode: {path}: {e}"
        )));
    }
    match &docs[..] {
        [Value::Object(m)] => Ok(m.clone()),
        _ => Err(BuildError::Unsupported(
            "uses helmCharts valuesInline with a values file that is not one mapping".into(),
        )),
    }
}

/// Whether a merge of `v` needs nothing kyaml's merge does beyond maps and replaced values:
/// no null (it clears fields, keeping some as explicit nulls), no `$patch` directive, and not
/// a Kubernetes object's shape (whose schema would make lists associative).
fn plain(v: &Map<String, Value>) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Object(m) => !m.contains_key("$patch") && m.values().all(walk),
            Value::Array(a) => a.iter().all(walk),
            _ => true,
        }
    }
    !(v.contains_key("apiVersion") && v.contains_key("kind")) && v.values().all(walk)
}

/// kyaml's merge of `src` into `dest` for plain values: maps merge key by key, anything else
/// from `src` replaces what `dest` has (lists are not associative without a schema).
fn merge(src: Map<String, Value>, mut dest: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in src {
        match (dest.remove(&k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => {
                dest.insert(k, Value::Object(merge(s, d)));
            }
            (_, v) => {
                dest.insert(k, v);
            }
        }
    }
    dest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::DirFiles;
    use serde_json::json;
    use std::sync::Mutex;

    /// Records what it is asked and answers one Deployment.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Inflation>>);

    impl HelmTemplate for Recorder {
        fn template(&self, chart: &Inflation) -> Result<String, BuildError> {
            self.0.lock().unwrap().push(chart.clone());
            Ok(format!(
                "---\n# Source: x/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n",
                chart.release_name
            ))
        }
    }

    const CHART: &[(&str, &str)] = &[
        (
            "app/charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n",
        ),
        ("app/charts/web/values.yaml", "image: {tag: a, repo: r}\nlist: [1, 2]\n"),
        ("app/charts/web/templates/d.yaml", "kind: Deployment\n"),
        ("app/extra.yaml", "extra: 1\n"),
    ];

    fn build(kustomization: &str) -> (Result<Vec<Value>, BuildError>, Vec<Inflation>) {
        let mut files = CHART.to_vec();
        files.push(("app/kustomization.yaml", kustomization));
        let repo = crate::test_repo(&files);
        let helm = Recorder::default();
        let out = crate::build_with(&DirFiles::new(repo.path()), "app", Some(&helm)).map(|b| b.docs);
        (out, helm.0.into_inner().unwrap())
    }

    fn values_json(i: &Inflation) -> Value {
        serde_json::from_slice(&i.values_files[0].1).unwrap()
    }

    #[test]
    fn kustomize_passes_the_chart_values_and_flags() {
        let (out, asked) = build(
            "namespace: prod\nhelmCharts:\n- name: web\n  releaseName: shop\n  namespace: web\n  additionalValuesFiles: [extra.yaml]\n  includeCRDs: true\n  skipTests: true\n  skipHooks: true\n  kubeVersion: \"1.29\"\n  apiVersions: [x/v1]\n",
        );
        let docs = out.expect("renders");
        assert_eq!(docs[0]["metadata"]["name"], "shop");
        assert_eq!(
            docs[0]["metadata"]["namespace"], "prod",
            "the kustomization's transformers apply"
        );
        let i = &asked[0];
        assert_eq!(i.chart_dir, "app/charts/web");
        let names: Vec<&str> = i.chart_files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Chart.yaml", "templates/d.yaml", "values.yaml"]);
        let files: Vec<&str> = i.values_files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(files, ["app/charts/web/values.yaml", "extra.yaml"]);
        assert_eq!(i.values_files[0].1, b"image: {tag: a, repo: r}\nlist: [1, 2]\n");
        assert_eq!(i.namespace.as_deref(), Some("web"));
        assert_eq!(i.kube_version.as_deref(), Some("1.29"));
        assert_eq!(i.api_versions, ["x/v1"]);
        assert!(i.include_crds && i.skip_tests && i.skip_hooks);
    }

    #[test]
    fn values_merge_overrides_merges_or_replaces() {
        for (mode, want) in [
            ("", json!({"image": {"tag": "b", "repo": "r"}, "list": [3]})),
            ("override", json!({"image": {"tag": "b", "repo": "r"}, "list": [3]})),
            ("merge", json!({"image": {"tag": "a", "repo": "r"}, "list": [1, 2]})),
            ("replace", json!({"image": {"tag": "b"}, "list": [3]})),
        ] {
            let (out, asked) = build(&format!(
                "helmCharts:\n- name: web\n  releaseName: shop\n  valuesMerge: \"{mode}\"\n  valuesInline: {{image: {{tag: b}}, list: [3]}}\n"
            ));
            out.expect("renders");
            assert_eq!(values_json(&asked[0]), want, "{mode:?}");
        }
    }

    #[test]
    fn what_kustomize_rejects_and_what_is_left_to_it() {
        for (k, want) in [
            (
                "helmCharts:\n- name: nope\n  releaseName: x\n",
                Err(BuildError::Invalid(
                    "no repo specified for pull, no chart found at ''".into(),
                )),
            ),
            (
                "helmCharts:\n- releaseName: x\n",
                Err(BuildError::Invalid("chart name cannot be empty".into())),
            ),
            (
                "helmCharts:\n- name: web\n  releaseName: x\n  valuesMerge: deep\n",
                Err(BuildError::Invalid(
                    "valuesMerge must be one of [merge override replace]".into(),
                )),
            ),
            (
                "helmCharts:\n- name: web\n  repo: https://charts.example.com\n  version: 1.0.0\n  releaseName: x\n",
                Err(BuildError::Unsupported(
                    "uses helmCharts with a chart to pull from its repo".into(),
                )),
            ),
            (
                "helmCharts:\n- name: web\n",
                Err(BuildError::Unsupported("uses helmCharts without releaseName".into())),
            ),
            (
                "helmCharts:\n- name: web\n  nameTemplate: x\n",
                Err(BuildError::Unsupported("uses helmCharts nameTemplate".into())),
            ),
            (
                "helmCharts:\n- name: web\n  releaseName: x\n  valuesInline: {image: null}\n",
                Err(BuildError::Unsupported(
                    "uses helmCharts valuesInline merged with null values or patch directives".into(),
                )),
            ),
            (
                "helmChartInflationGenerator:\n- chartName: web\n",
                Err(BuildError::Unsupported("uses helmChartInflationGenerator".into())),
            ),
        ] {
            assert_eq!(build(k).0.map(|_| ()), want, "{k}");
        }
        // Without a Helm renderer, kustomize renders it.
        let repo = crate::test_repo(&[("k/kustomization.yaml", "helmCharts:\n- name: web\n")]);
        assert_eq!(
            crate::build(&DirFiles::new(repo.path()), "k").map(|_| ()),
            Err(BuildError::Unsupported("uses helmCharts".into()))
        );
    }
}
