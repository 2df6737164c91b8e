//! `override`: an image a live Argo CD Application sets outside git (`kustomize.images`,
//! `helm.parameters`, as Argo CD Image Updater's `argocd` write-back does). It is declared, so
//! the comparison uses it, but git does not hold it: "git is the truth" is checked, not assumed.

use super::{Environment, finding};
use crate::core::image::ImageRef;
use crate::core::model::{
    ContainerSpec, DeclaredWorkload, Finding, FindingType, ImageOverride, OverrideTarget, Severity,
};

/// One finding per container an override sets, naming the object, the field and the value.
pub(super) fn overrides(env: &Environment<'_>, out: &mut Vec<Finding>) {
    for o in env.scope.overrides {
        for dw in env.declared.workloads.iter().filter(|w| env.listed(&w.namespace)) {
            if !targets(o, dw) {
                continue;
            }
            for dc in dw.containers.iter().filter(|c| sets(o, c)) {
                out.push(finding(
                    env.scope,
                    FindingType::Override,
                    Severity::Warning,
                    &dw.key(),
                    Some(&dc.name),
                    Some(dw),
                    Some(&dc.image),
                    Vec::new(),
                    format!(
                        "{} sets {} = {:?} outside git: {} runs {} because of it, which git does not declare",
                        o.object, o.field, o.value, dc.name, dc.image
                    ),
                ));
            }
        }
    }
}

fn targets(o: &ImageOverride, dw: &DeclaredWorkload) -> bool {
    match &o.target {
        OverrideTarget::Path(dir) => {
            dw.helm.is_none() && (dw.source == *dir || dw.source.starts_with(&format!("{dir}/")))
        }
        OverrideTarget::Release(name) => dw.helm.as_ref().is_some_and(|h| h.release == *name),
    }
}

fn sets(o: &ImageOverride, c: &ContainerSpec) -> bool {
    let Ok(image) = ImageRef::parse(&c.image) else {
        return false;
    };
    let repository = o.repository.as_ref().is_none_or(|r| *r == image.name());
    // A tag, a digest, or (a Helm parameter such as image.repository) a repository.
    let needle = o.needle.as_ref().is_none_or(|n| {
        image.tag() == Some(n.as_str()) || image.digest() == Some(n.as_str()) || c.image.contains(n.as_str())
    });
    repository && needle
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{D1, REPO, declared, scope};
    use super::*;
    use crate::core::model::{DeclaredState, HelmSource};

    fn run(overrides: &[ImageOverride], workloads: Vec<DeclaredWorkload>) -> Vec<Finding> {
        let s = scope(&[], &[]);
        let s = super::super::Scope { overrides, ..s };
        let declared = DeclaredState {
            workloads,
            ..Default::default()
        };
        let env = Environment {
            scope: &s,
            declared: &declared,
            live: None,
        };
        let mut out = Vec::new();
        overrides_check(&env, &mut out);
        out
    }

    fn overrides_check(env: &Environment<'_>, out: &mut Vec<Finding>) {
        super::overrides(env, out)
    }

    fn kustomize_override() -> ImageOverride {
        ImageOverride {
            object: "Application argocd/api".into(),
            field: "spec.source.kustomize.images[0]".into(),
            value: format!("{REPO}@{D1}"),
            target: OverrideTarget::Path("apps/api/overlays/production".into()),
            repository: Some(REPO.into()),
            needle: Some(D1.into()),
        }
    }

    #[test]
    fn a_kustomize_image_override_names_the_application_and_field() {
        let found = run(&[kustomize_override()], vec![declared("api", &format!("{REPO}@{D1}"))]);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!((f.kind, f.severity), (FindingType::Override, Severity::Warning));
        assert!(
            f.message
                .contains("Application argocd/api sets spec.source.kustomize.images[0]"),
            "{}",
            f.message
        );
        // Another path, or another repository, is not what the override set.
        let mut elsewhere = declared("api", &format!("{REPO}@{D1}"));
        elsewhere.source = "apps/web/overlays/production".into();
        assert!(run(&[kustomize_override()], vec![elsewhere]).is_empty());
        assert!(
            run(
                &[kustomize_override()],
                vec![declared("api", &format!("{REPO}-other@{D1}"))]
            )
            .is_empty()
        );
    }

    #[test]
    fn a_helm_parameter_override_applies_to_its_release() {
        let o = ImageOverride {
            object: "Application argocd/shop".into(),
            field: "spec.source.helm.parameters[0]".into(),
            value: "image.tag=1.4.2".into(),
            target: OverrideTarget::Release("shop".into()),
            repository: None,
            needle: Some("1.4.2".into()),
        };
        let mut w = declared("shop", &format!("{REPO}:1.4.2"));
        w.helm = Some(HelmSource {
            release: "shop".into(),
            template: "shop/templates/deployment.yaml".into(),
        });
        assert_eq!(run(std::slice::from_ref(&o), vec![w.clone()]).len(), 1);
        let repository = ImageOverride {
            value: format!("image.repository={REPO}"),
            needle: Some(REPO.into()),
            ..o.clone()
        };
        assert_eq!(run(&[repository], vec![w.clone()]).len(), 1, "a repository parameter");
        w.helm.as_mut().unwrap().release = "other".into();
        assert!(run(&[o], vec![w]).is_empty());
    }
}
