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
//! - [`release`]: `helm template` end to end ([`template()`]): the values' scopes as the engine's
//!   top-level values, rendering, and the printed manifests.

/// The renderer's version: part of every render-cache key a caller makes, so bump it with any
/// change to output.
pub const VERSION: &str = "builtin-0.1.0-1";

pub mod chart;
pub mod gofmt;
pub mod release;
pub mod template;
pub mod values;
pub mod yaml;

pub use release::{Document, Rendered, Show, template};
