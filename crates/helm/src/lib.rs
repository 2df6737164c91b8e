//! A native renderer for Helm charts, following Helm v4's `helm template`: files in, manifests
//! out, no IO of its own. Pure: it imports nothing of driftwatch.
//!
//! # Layout
//! - [`template`]: Go's `text/template` (parse and execute, with Go's exact semantics) and its
//!   value model.
//! - [`chart`]: a chart as files (`Chart.yaml`, `values.yaml`, `templates/`, subcharts under
//!   `charts/`, directories and `.tgz`).
//! - [`values`]: Helm's values: chart defaults, files, inline values, coalesced into subcharts
//!   (`global`, `import-values`, `condition`, `tags`), `values.schema.json`.
//! - [`yaml`]: YAML as Helm reads it (go-yaml v2 through sigs.k8s.io/yaml, YAML 1.1 scalars),
//!   for Chart.yaml, values files and rendered manifests alike; [`gofmt`]: Go's number
//!   formatting and parsing it (and the values) depend on.
//! - [`semver`]: Masterminds/semver v3, the versions and constraints Helm and sprig share
//!   (chart versions, dependency ranges, `kubeVersion`, `semver`/`semverCompare`).
//! - [`release`]: `helm template` end to end ([`template()`]): the values' scopes as the engine's
//!   top-level values, rendering, and the printed manifests.

pub mod chart;
pub mod gofmt;
pub mod release;
pub mod semver;
pub mod template;
pub mod values;
pub mod yaml;

pub use release::{Document, Rendered, Show, template};

/// The renderer's version: part of every render-cache key driftwatch makes for a release the
/// built-in engine renders, so a release that renders differently never reads an older
/// version's entries. Bump it with any change to output (the engine, its functions, values).
pub const VERSION: &str = concat!("builtin-", env!("CARGO_PKG_VERSION"), "-2");
