//! A chart as Helm v4's loader builds it (pkg/chart/v2/loader), from files the caller gives:
//! `Chart.yaml`, `values.yaml` (every document merged), `values.schema.json`, `templates/`,
//! everything else as `.Files` (including `crds/`), and subcharts under `charts/` (directories
//! and `.tgz` archives, nested). The crate does no IO of its own except the helpers in
//! [`archive`] that read a directory (applying `.helmignore`) or a `.tgz` into a file list.
//!
//! - [`metadata`]: Chart.yaml's fields, decoded as Go decodes them.
//! - [`ignore`](mod@ignore): `.helmignore`.
//! - [`manifest`]: what `helm template` prints from rendered templates.
//! - [`values_file`]: `values.yaml` and `-f` files read into [`Values`] (`loader.LoadValues`).

pub mod archive;
pub mod ignore;
pub mod manifest;
pub mod metadata;
pub mod values_file;

use std::collections::BTreeMap;

pub use metadata::{Dependency, Maintainer, Metadata};

use crate::yaml;
use values_file::{Values, ValuesError};

/// A file of a chart: its path relative to the chart root, `/`-separated, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// `templates/deployment.yaml`, `README.md`, ...
    pub name: String,
    /// The content (a UTF-8 BOM already dropped, as Helm's loaders drop it).
    pub data: Vec<u8>,
}

impl File {
    /// A file from a name and bytes.
    #[must_use]
    pub fn new(name: impl Into<String>, data: impl Into<Vec<u8>>) -> File {
        File {
            name: name.into(),
            data: data.into(),
        }
    }
}

/// A loaded chart and its subcharts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Metadata,
    /// values.yaml, every document merged.
    pub values: Values,
    /// values.schema.json, raw.
    pub schema: Option<Vec<u8>>,
    /// Files under `templates/`.
    pub templates: Vec<File>,
    /// Every other file (README, `crds/`, `files/`, requirements.yaml of a v1 chart, `.prov`
    /// files under `charts/`): what `.Files` holds.
    pub files: Vec<File>,
    /// Subcharts, in Helm's order: after loading, by directory/archive name; after dependency
    /// processing, undeclared ones first, then Chart.yaml's order.
    pub dependencies: Vec<Chart>,
}

/// Why Helm would not load a chart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    /// No Chart.yaml at the chart's root.
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    /// Chart.yaml is not YAML Helm reads.
    #[error("cannot load Chart.yaml: error converting YAML to JSON: {0}")]
    ChartYamlSyntax(yaml::YamlError),
    /// Chart.yaml has a field of the wrong type.
    #[error("cannot load Chart.yaml: error unmarshaling JSON: while decoding JSON: {0}")]
    ChartYamlType(metadata::MetadataDecodeError),
    /// requirements.yaml is not YAML Helm reads.
    #[error("cannot load requirements.yaml: error converting YAML to JSON: {0}")]
    RequirementsSyntax(yaml::YamlError),
    /// requirements.yaml has a field of the wrong type.
    #[error("cannot load requirements.yaml: error unmarshaling JSON: while decoding JSON: {0}")]
    RequirementsType(metadata::MetadataDecodeError),
    /// values.yaml is not YAML Helm reads.
    #[error("cannot load values.yaml: {0}")]
    Values(ValuesError),
    /// Chart.yaml fails Helm's metadata validation (`validation: ...`).
    #[error("validation: {0}")]
    Validation(String),
    /// A subchart failed to load.
    #[error("error unpacking subchart {name} in {parent}: {source}")]
    Subchart {
        /// Directory or archive name under `charts/`.
        name: String,
        /// The parent chart's name.
        parent: String,
        /// Why.
        source: Box<ChartError>,
    },
    /// A `.tgz` under `charts/` whose entry name does not match.
    #[error("error unpacking subchart tar in {parent}: expected {expected}, got {got}")]
    SubchartTar {
        /// The parent chart's name.
        parent: String,
        /// The archive's name.
        expected: String,
        /// What was found.
        got: String,
    },
    /// A chart archive Helm refuses (not gzip, absolute paths, no files...).
    #[error("{0}")]
    Archive(String),
    /// A `.helmignore` Helm refuses.
    #[error(transparent)]
    Ignore(#[from] ignore::IgnoreError),
    /// Reading the chart from disk failed (only the [`archive`] helpers do IO).
    #[error("{0}")]
    Io(String),
}

impl Chart {
    /// The chart's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether the chart is a library chart (`type: library`, any case).
    #[must_use]
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type.eq_ignore_ascii_case("library")
    }

    /// Helm's `CRDObjects`: `crds/*.yaml|yml|json` of the chart then of each subchart, each
    /// with its file name prefixed by the chart's full path (`parent/charts/sub/crds/x.yaml`).
    #[must_use]
    pub fn crd_objects(&self) -> Vec<(String, &File)> {
        let mut out = Vec::new();
        self.collect_crds(self.name(), &mut out);
        out
    }

    fn collect_crds<'a>(&'a self, full_path: &str, out: &mut Vec<(String, &'a File)>) {
        for f in &self.files {
            if f.name.starts_with("crds/") && has_manifest_extension(&f.name) {
                out.push((format!("{full_path}/{}", f.name), f));
            }
        }
        for dep in &self.dependencies {
            dep.collect_crds(&format!("{full_path}/charts/{}", dep.name()), out);
        }
    }
}

fn has_manifest_extension(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rsplit_once('.')
        .is_some_and(|(_, ext)| ["yaml", "yml", "json"].iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// Helm's `LoadFiles`: a chart from its files (paths relative to the chart root). `.helmignore`
/// is *not* applied here (Helm applies it only when reading a directory: see
/// [`archive::read_dir`]).
///
/// # Errors
/// [`ChartError`] as Helm words it.
pub fn load_files(files: Vec<File>) -> Result<Chart, ChartError> {
    let mut chart = Chart::default();
    let chart_yaml = files.iter().rfind(|f| f.name == "Chart.yaml");
    let mut have_metadata = false;
    if let Some(f) = chart_yaml {
        let doc = yaml::typed_from_str(&String::from_utf8_lossy(&f.data)).map_err(ChartError::ChartYamlSyntax)?;
        chart.metadata = Metadata::from_typed(&doc).map_err(ChartError::ChartYamlType)?;
        if chart.metadata.api_version.is_empty() {
            chart.metadata.api_version = "v1".into();
        }
        have_metadata = true;
    }
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        have_metadata |= place_file(&mut chart, f, &mut subcharts)?;
    }
    if !have_metadata {
        return Err(ChartError::MissingChartYaml);
    }
    validate(&mut chart.metadata)?;
    for (name, files) in subcharts {
        if let Some(sub) = load_subchart(&chart, &name, files)? {
            chart.dependencies.push(sub);
        }
    }
    Ok(chart)
}

/// Files one file where Helm's loader puts it; `true` when it created metadata
/// (requirements.yaml without Chart.yaml).
fn place_file(chart: &mut Chart, f: File, subcharts: &mut BTreeMap<String, Vec<File>>) -> Result<bool, ChartError> {
    match f.name.as_str() {
        "Chart.yaml" | "Chart.lock" | "requirements.lock" => {
            if f.name == "requirements.lock" && chart.metadata.api_version == "v1" {
                chart.files.push(f);
            }
        }
        "values.yaml" => chart.values = values_file::load_values(&f.data).map_err(ChartError::Values)?,
        "values.schema.json" => chart.schema = Some(f.data),
        "requirements.yaml" => {
            let doc =
                yaml::typed_from_str(&String::from_utf8_lossy(&f.data)).map_err(ChartError::RequirementsSyntax)?;
            chart.metadata.merge_typed(&doc).map_err(ChartError::RequirementsType)?;
            if chart.metadata.api_version == "v1" {
                chart.files.push(f);
            }
            return Ok(true);
        }
        name if name.starts_with("templates/") => chart.templates.push(f),
        name if name.starts_with("charts/") => {
            if name.ends_with(".prov") {
                chart.files.push(f);
            } else {
                let rest = &name["charts/".len()..];
                let sub = rest.split('/').next().unwrap_or(rest).to_string();
                subcharts.entry(sub).or_default().push(File {
                    name: rest.to_string(),
                    data: f.data,
                });
            }
        }
        _ => chart.files.push(f),
    }
    Ok(false)
}

fn load_subchart(parent: &Chart, name: &str, files: Vec<File>) -> Result<Option<Chart>, ChartError> {
    if name.starts_with(['_', '.']) {
        return Ok(None);
    }
    let wrap = |e: ChartError| ChartError::Subchart {
        name: name.to_string(),
        parent: parent.name().to_string(),
        source: Box::new(e),
    };
    let sub = if std::path::Path::new(name).extension().is_some_and(|e| e == "tgz") {
        let first = files.into_iter().next().expect("a subchart group has a file");
        if first.name != name {
            return Err(ChartError::SubchartTar {
                parent: parent.name().to_string(),
                expected: name.to_string(),
                got: first.name,
            });
        }
        archive::load_archive(&first.data).map_err(wrap)?
    } else {
        let inner: Vec<File> = files
            .into_iter()
            .filter_map(|f| {
                f.name.split_once('/').map(|(_, rest)| File {
                    name: rest.to_string(),
                    data: f.data,
                })
            })
            .collect();
        load_files(inner).map_err(wrap)?
    };
    Ok(Some(sub))
}

/// Helm's `unicode.IsPrint`-based `sanitizeString`: whitespace becomes a space, other
/// non-printable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// `Metadata.Validate` (which also sanitises strings in place).
fn validate(md: &mut Metadata) -> Result<(), ChartError> {
    for s in [
        &mut md.name,
        &mut md.description,
        &mut md.home,
        &mut md.icon,
        &mut md.condition,
        &mut md.tags,
    ] {
        *s = sanitize(s);
    }
    for s in [&mut md.app_version, &mut md.kube_version] {
        *s = sanitize(s);
    }
    let fail = |m: String| Err(ChartError::Validation(m));
    if md.api_version.is_empty() {
        return fail("chart.metadata.apiVersion is required".into());
    }
    if md.name.is_empty() {
        return fail("chart.metadata.name is required".into());
    }
    if md.name == "." || md.name == ".." {
        return fail(format!("chart.metadata.name {:?} is not allowed", md.name));
    }
    if md.name.contains('/') {
        return fail(format!("chart.metadata.name {:?} is invalid", md.name));
    }
    if md.version.is_empty() {
        return fail("chart.metadata.version is required".into());
    }
    if crate::semver::Version::parse(&md.version).is_err() {
        return fail(format!("chart.metadata.version {:?} is invalid", md.version));
    }
    if !matches!(md.chart_type.as_str(), "" | "application" | "library") {
        return fail("chart.metadata.type must be application or library".into());
    }
    if md.maintainers.iter().any(Option::is_none) {
        return fail("maintainers must not contain empty or null nodes".into());
    }
    validate_dependencies(md)
}

fn validate_dependencies(md: &mut Metadata) -> Result<(), ChartError> {
    let mut seen = std::collections::HashSet::new();
    for dep in md.dependencies.iter_mut().flatten() {
        let Some(dep) = dep else {
            return Err(ChartError::Validation(
                "dependencies must not contain empty or null nodes".into(),
            ));
        };
        for s in [&mut dep.name, &mut dep.version, &mut dep.repository, &mut dep.condition] {
            *s = sanitize(s);
        }
        let alias_ok = dep
            .alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !dep.alias.is_empty() && !alias_ok {
            return Err(ChartError::Validation(format!(
                "dependency {:?} has disallowed characters in the alias",
                dep.name
            )));
        }
        let key = if dep.alias.is_empty() {
            dep.name.clone()
        } else {
            dep.alias.clone()
        };
        if !seen.insert(key.clone()) {
            return Err(ChartError::Validation(format!(
                "more than one dependency with name or alias {key:?}"
            )));
        }
    }
    Ok(())
}
