//! kustomize's `helmCharts:` rendered by the built-in Helm engine: the [`kustomize`] crate reads
//! the chart and values as kustomize does and asks for `helm template`'s output
//! ([`kustomize::helm::HelmTemplate`]); here the `helm` crate gives it. The two crates stay
//! independent of each other: driftwatch joins them.

use kustomize::BuildError;
use kustomize::helm::{HelmTemplate, Inflation};

/// `helm template` as the `helm` crate renders it.
pub struct BuiltinHelm;

/// The namespace `helm template` renders into when kustomize passes none.
const DEFAULT_NAMESPACE: &str = "default";

impl HelmTemplate for BuiltinHelm {
    fn template(&self, c: &Inflation) -> Result<String, BuildError> {
        render(c).map_err(|e| match e {
            helm::release::Error::Unsupported(what) => BuildError::Unsupported(format!(
                "uses {what} in helmCharts chart {}",
                kustomize::files::display(&c.chart_dir)
            )),
            e => BuildError::Invalid(format!(
                "helm template {} {}: {}",
                c.release_name,
                c.chart_dir,
                crate::error_chain(&e)
            )),
        })
    }
}

fn render(c: &Inflation) -> Result<String, helm::release::Error> {
    let files = helm::chart::archive::dir_files(c.chart_files.clone())?;
    let chart = helm::chart::load_files(files)?;
    let user = helm::values::user_values(&c.values_files, &[])
        .map_err(|e| helm::release::Error::Render(crate::error_chain(&e)))?;
    let opts = helm::values::render::TemplateOptions {
        release: helm::values::render::ReleaseOptions {
            name: c.release_name.clone(),
            namespace: c.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            ..Default::default()
        },
        kube_version: c.kube_version.clone(),
        api_versions: c.api_versions.clone(),
        skip_schema_validation: false,
    };
    let show = helm::Show {
        include_crds: c.include_crds,
        no_hooks: c.skip_hooks,
        skip_tests: c.skip_tests,
    };
    Ok(helm::template(chart, &user, &opts, show)?.output)
}
