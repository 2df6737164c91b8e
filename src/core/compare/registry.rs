//! What the registries tell about a declared image, and where images may come from:
//! `digest-not-found`, `unverifiable` (registry unreachable), `tag-moved`, multi-arch images
//! counted as the declared one, `disallowed-source`, and the rewrites applied to live
//! references (pull-through proxies, mirrors) before they are compared.

use std::collections::{BTreeMap, BTreeSet};

use super::{Container, Flow, list_short, short};
use crate::core::image::{ImageRef, RunningImage};
use crate::core::model::{Finding, FindingType, LiveWorkload, Lookup, RegistryFacts, Rewrite, RunningDigest, Severity};

/// `reference` with the first matching rewrite applied (`from` prefix replaced by `to`).
pub fn rewrite(reference: &str, rules: &[Rewrite]) -> String {
    rules
        .iter()
        .find_map(|r| {
            reference
                .strip_prefix(r.from.as_str())
                .map(|rest| format!("{}{rest}", r.to))
        })
        .unwrap_or_else(|| reference.to_string())
}

/// A source prefix in the form image names are normalised to: a first component that is not a
/// host (no `.` or `:`, not `localhost`) is on Docker Hub, and `index.docker.io` is `docker.io`.
/// Unlike an image name, `library/` is not added: `docker.io/library` means the official images.
fn normalise_prefix(entry: &str) -> String {
    let (first, rest) = entry.split_once('/').unwrap_or((entry, ""));
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    match (is_host, first, rest) {
        (true, "index.docker.io", rest) => format!("docker.io/{rest}").trim_end_matches('/').to_string(),
        (true, _, _) => entry.to_string(),
        (false, _, _) => format!("docker.io/{entry}"),
    }
}

/// Whether `name` (a normalised `registry/repository`) is inside one of `allowed`, on path
/// boundaries: `host/app-release` allows `host/app-release` and `host/app-release/x`, never
/// `host/app-release-evil`. An entry without `/` is a whole registry host.
pub fn source_allowed(name: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            let prefix = normalise_prefix(entry.trim_end_matches('/'));
            name == prefix
                || name
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// What the registry says about the declared reference: gone (`digest-not-found`: the next Pod
/// start fails to pull), unreachable (`unverifiable`), or, for a tag, where it points now,
/// which is what the Pods are then compared with.
pub(super) fn declared_reference(c: &mut Container<'_>, out: &mut Vec<Finding>) -> Flow {
    let Some(facts) = c.scope.registry else {
        return Flow::Next;
    };
    let name = &c.name;
    let (subject, looked_up) = match (c.image.digest(), c.image.effective_tag()) {
        (Some(d), _) => (
            format!("{name}@{}", short(d)),
            facts.manifest(name, d).map(|l| l.map(|_| None)),
        ),
        (None, Some(tag)) => (
            format!("tag {name}:{tag}"),
            facts.tag(name, tag).map(|l| l.map(|t| Some(t.clone()))),
        ),
        (None, None) => (String::new(), None),
    };
    match looked_up {
        Some(Lookup::Found(target)) => c.tag_target = target,
        Some(Lookup::NotFound) => {
            let message =
                format!("{subject} no longer exists in the registry: the next Pod start will fail to pull it");
            out.push(c.finding(FindingType::DigestNotFound, Severity::Critical, Vec::new(), message));
        }
        Some(Lookup::Unavailable(reason)) => {
            let message = format!("registry check not possible: {reason}");
            out.push(c.finding(FindingType::Unverifiable, Severity::Info, Vec::new(), message));
        }
        None => {}
    }
    Flow::Next
}

/// `disallowed-source`: the declared image, the live spec's image or a repository the Pods
/// pulled from is outside `allowed_sources`. One finding lists them all.
pub(super) fn disallowed_source(c: &mut Container<'_>, out: &mut Vec<Finding>) -> Flow {
    let allowed = c.scope.allowed_sources;
    let declared_allowed = source_allowed(&c.name, allowed);
    let Some(lw) = c.live else {
        if !declared_allowed {
            let message = format!("{} is outside the allowed sources ({})", c.name, allowed.join(", "));
            out.push(c.finding(FindingType::DisallowedSource, Severity::Critical, Vec::new(), message));
        }
        return Flow::Next;
    };
    let mut outside: BTreeSet<String> = BTreeSet::new();
    if !declared_allowed {
        outside.insert(format!("{} (declared)", c.name));
    }
    if !allowed.is_empty() {
        outside.extend(running_outside(c, lw));
    }
    if !outside.is_empty() {
        let list: Vec<String> = outside.into_iter().collect();
        let message = format!(
            "{} outside the allowed sources ({})",
            list.join(", "),
            allowed.join(", ")
        );
        out.push(c.finding(
            FindingType::DisallowedSource,
            Severity::Critical,
            c.running.clone(),
            message,
        ));
    }
    Flow::Next
}

/// Where the Pods pulled from that is not allowed: the live spec's image and the repositories
/// the runtime reports with the digest, after rewrites for proxies and mirrors.
fn running_outside(c: &Container<'_>, lw: &LiveWorkload) -> BTreeSet<String> {
    let scope = c.scope;
    let live_specs = lw
        .containers
        .iter()
        .filter(|s| s.name == c.spec.name)
        .map(|s| rewrite(&s.image, scope.rewrites));
    let pulled = lw
        .pods
        .iter()
        .flat_map(|p| &p.statuses)
        .filter(|s| s.name == c.spec.name)
        .filter_map(|s| match &s.image {
            RunningImage::Digest {
                repository: Some(repo), ..
            } => Some(rewrite(repo, scope.rewrites)),
            _ => None,
        });
    live_specs
        .chain(pulled)
        .filter_map(|reference| ImageRef::parse(&reference).ok())
        .filter(|r| !source_allowed(&r.name(), scope.allowed_sources))
        .map(|r| format!("{} (running)", r.name()))
        .collect()
}

/// A multi-arch image: Pods report a platform manifest of the declared index (or the index of
/// a declared platform manifest). That is the declared image, not drift, so such digests are
/// counted as the declared (or the tag's current) one from here on.
pub(super) fn multi_arch(c: &mut Container<'_>, _: &LiveWorkload, _: &mut Vec<Finding>) -> Flow {
    let target = c.image.digest().map(str::to_string).or_else(|| c.tag_target.clone());
    if let (Some(facts), Some(want)) = (c.scope.registry, &target) {
        c.running = same_content_as(std::mem::take(&mut c.running), want, &c.name, facts);
    }
    Flow::Next
}

/// `running` with every digest that is the same content as `want` (multi-arch) counted as
/// `want`.
fn same_content_as(running: Vec<RunningDigest>, want: &str, name: &str, facts: &RegistryFacts) -> Vec<RunningDigest> {
    let mut merged: BTreeMap<String, usize> = BTreeMap::new();
    for r in running {
        let digest = if facts.same_content(name, want, &r.digest).is_some() {
            want.to_string()
        } else {
            r.digest
        };
        *merged.entry(digest).or_default() += r.pods;
    }
    merged
        .into_iter()
        .map(|(digest, pods)| RunningDigest { digest, pods })
        .collect()
}

/// `tag-moved`: a declared tag the registry now serves another digest for than some Pods run.
/// For a tag, this is the whole comparison of the Pods' digests.
pub(super) fn tag_moved(c: &mut Container<'_>, _: &LiveWorkload, out: &mut Vec<Finding>) -> Flow {
    let Some(t) = &c.tag_target else {
        return Flow::Next;
    };
    let stale: Vec<RunningDigest> = c.running.iter().filter(|r| &r.digest != t).cloned().collect();
    if !stale.is_empty() {
        let message = format!(
            "git declares {} by tag; the registry now serves {} for it, but Pods run {}",
            c.spec.image,
            short(t),
            list_short(&stale)
        );
        out.push(c.finding(FindingType::TagMoved, Severity::Critical, c.running.clone(), message));
    }
    Flow::Stop
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{D1, D2, REPO, declared, digest, live, pinned, pod, run_with, scope};
    use super::*;
    use crate::core::model::{DeclaredState, LivePod, Manifest};

    #[test]
    fn allowed_sources_respect_path_boundaries() {
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let allowed = vec![
            format!("{ecr}/myapp-release"),
            "docker.io/library".to_string(),
            "quay.io".to_string(),
        ];
        let cases = [
            ("exact repository", format!("{ecr}/myapp-release"), true),
            ("below it", format!("{ecr}/myapp-release/api"), true),
            (
                "same prefix, other repository",
                format!("{ecr}/myapp-release-evil"),
                false,
            ),
            ("dev tier", format!("{ecr}/myapp-dev"), false),
            ("official image", "docker.io/library/nginx".to_string(), true),
            ("hub user image", "docker.io/evil/nginx".to_string(), false),
            ("whole registry host", "quay.io/org/app".to_string(), true),
            (
                "host prefix is not a host",
                "quay.io.evil.com/org/app".to_string(),
                false,
            ),
        ];
        for (name, image, want) in cases {
            assert_eq!(source_allowed(&image, &allowed), want, "{name}");
        }
        assert!(source_allowed("anything/at/all", &[]), "no list: anything goes");
    }

    #[test]
    fn rewrites_apply_the_first_matching_prefix() {
        let rules = vec![
            Rewrite {
                from: "localhost:7439/".into(),
                to: "".into(),
            },
            Rewrite {
                from: "mirror.example.com/dockerhub/".into(),
                to: "docker.io/".into(),
            },
        ];
        assert_eq!(
            rewrite("localhost:7439/registry.example.com/shop/api:1", &rules),
            "registry.example.com/shop/api:1"
        );
        assert_eq!(
            rewrite("mirror.example.com/dockerhub/library/nginx:1", &rules),
            "docker.io/library/nginx:1"
        );
        assert_eq!(rewrite("registry.example.com/x", &rules), "registry.example.com/x");
    }

    #[test]
    fn disallowed_sources_and_proxied_images() {
        let allowed = vec!["registry.example.com/shop".to_string()];
        let rules = vec![Rewrite {
            from: "localhost:7439/".into(),
            to: "".into(),
        }];
        let mut s = scope(&[], &[]);
        s.allowed_sources = &allowed;
        s.rewrites = &rules;
        let proxied = format!("localhost:7439/{REPO}@{D1}");
        let proxied_pod = pod(
            "a",
            "app",
            RunningImage::Digest {
                repository: Some(format!("localhost:7439/{REPO}")),
                digest: D1.into(),
            },
        );
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d.clone(), vec![live("api", &proxied, vec![proxied_pod])]),
            vec![],
            "rewritten proxy reference: no drift, allowed"
        );

        // A hotfix pulled from elsewhere: spec drift and a promotion bypass.
        let hotfix = format!("ghcr.io/someone/api@{D2}");
        let hotfix_pod = pod(
            "a",
            "app",
            RunningImage::Digest {
                repository: Some("ghcr.io/someone/api".into()),
                digest: D2.into(),
            },
        );
        let got = run_with(&s, d, vec![live("api", &hotfix, vec![hotfix_pod])]);
        assert_eq!(
            got,
            vec![
                (FindingType::SpecDrift, Severity::Critical, "api".into()),
                (FindingType::DisallowedSource, Severity::Critical, "api".into())
            ]
        );

        // Declared from the wrong tier.
        let dev = DeclaredState {
            workloads: vec![declared("api", &format!("registry.example.com/dev/api@{D1}"))],
            ..Default::default()
        };
        let got = run_with(&s, dev, vec![]);
        assert_eq!(
            got,
            vec![
                (FindingType::DisallowedSource, Severity::Critical, "api".into()),
                (FindingType::Missing, Severity::Warning, "api".into())
            ]
        );
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn registry_facts_by_case() {
        use FindingType::*;
        use Severity::*;
        let tag = format!("{REPO}:v1");
        let index = |members: &[&str]| {
            Lookup::Found(Manifest::Index(
                members
                    .iter()
                    .map(|d| (d.to_string(), "linux/arm64".to_string()))
                    .collect(),
            ))
        };
        let cases: Vec<(
            &str,
            RegistryFacts,
            String,
            Vec<LivePod>,
            Vec<(FindingType, Severity, String)>,
        )> = vec![
            (
                "declared digest gone from the registry",
                facts(&[(D1, Lookup::NotFound)], &[]),
                pinned(D1),
                vec![pod("a", "app", digest(D1))],
                vec![(DigestNotFound, Critical, "api".into())],
            ),
            (
                "registry unreachable: unverifiable, Pods still judged",
                facts(&[(D1, Lookup::Unavailable("503".into()))], &[]),
                pinned(D1),
                vec![pod("a", "app", digest(D2))],
                vec![
                    (DigestDrift, Critical, "api".into()),
                    (Unverifiable, Info, "api".into()),
                ],
            ),
            (
                "tag moved since the Pods pulled it",
                facts(&[], &[("v1", Lookup::Found(D2.to_string()))]),
                tag.clone(),
                vec![pod("a", "app", digest(D1))],
                vec![(Unpinned, Critical, "api".into()), (TagMoved, Critical, "api".into())],
            ),
            (
                "tag still where the Pods are",
                facts(&[], &[("v1", Lookup::Found(D1.to_string()))]),
                tag.clone(),
                vec![pod("a", "app", digest(D1))],
                vec![(Unpinned, Critical, "api".into())],
            ),
            (
                "Pods run a platform manifest of the declared index",
                facts(&[(D1, index(&[D2]))], &[]),
                pinned(D1),
                vec![pod("a", "app", digest(D2))],
                vec![],
            ),
            (
                "index without the running digest is drift",
                facts(&[(D1, index(&[]))], &[]),
                pinned(D1),
                vec![pod("a", "app", digest(D2))],
                vec![(DigestDrift, Critical, "api".into())],
            ),
        ];
        for (name, facts, image, pods, want) in cases {
            let mut s = scope(&[], &[]);
            s.registry = Some(&facts);
            let d = DeclaredState {
                workloads: vec![declared("api", &image)],
                ..Default::default()
            };
            assert_eq!(run_with(&s, d, vec![live("api", &image, pods)]), want, "{name}");
        }
    }

    fn facts(manifests: &[(&str, Lookup<Manifest>)], tags: &[(&str, Lookup<String>)]) -> RegistryFacts {
        RegistryFacts {
            manifests: manifests
                .iter()
                .map(|(d, l)| ((REPO.to_string(), d.to_string()), l.clone()))
                .collect(),
            tags: tags
                .iter()
                .map(|(t, l)| ((REPO.to_string(), t.to_string()), l.clone()))
                .collect(),
        }
    }
}
