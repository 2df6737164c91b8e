//! The order environments are shown in: along their promotion chains.

use std::collections::HashSet;

/// Environments in page order: each environment of a `promoted_from` chain right after the one
/// it is promoted from (the chain's first environment where it stands in the config), then the
/// rest in config order. `envs` is `(name, promoted_from)` in config order.
pub fn promotion_order(envs: &[(&str, Option<&str>)]) -> Vec<String> {
    let involved: HashSet<&str> = envs
        .iter()
        .filter_map(|(name, from)| from.map(|f| [*name, f]))
        .flatten()
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(envs.len());
    let mut seen: HashSet<&str> = HashSet::new();
    fn visit<'a>(
        name: &'a str,
        envs: &[(&'a str, Option<&'a str>)],
        seen: &mut HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(name) {
            return;
        }
        out.push(name.to_string());
        for (next, _) in envs.iter().filter(|(_, from)| *from == Some(name)) {
            visit(next, envs, seen, out);
        }
    }
    // Chain roots: involved, promoted from nothing configured.
    for (name, from) in envs {
        let root = from.is_none_or(|f| !envs.iter().any(|(n, _)| *n == f));
        if involved.contains(name) && root {
            visit(name, envs, &mut seen, &mut out);
        }
    }
    // A cycle (config validation names it; kept here so no environment is ever dropped), then
    // the environments outside any chain.
    for (name, _) in envs.iter().filter(|(n, _)| involved.contains(n)) {
        visit(name, envs, &mut seen, &mut out);
    }
    for (name, _) in envs {
        if seen.insert(name) {
            out.push(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::StatusView;
    use crate::core::report::status::fixtures::*;

    #[test]
    fn columns_follow_the_promotion_chain_then_config_order() {
        type Case<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)], &'a [&'a str]);
        let cases: [Case<'_>; 4] = [
            (
                "a chain listed backwards",
                &[
                    ("production", Some("staging")),
                    ("staging", Some("dev")),
                    ("dev", None),
                    ("sandbox", None),
                ],
                &["dev", "staging", "production", "sandbox"],
            ),
            (
                "unchained environments after the chain",
                &[("sandbox", None), ("production", Some("staging")), ("staging", None)],
                &["staging", "production", "sandbox"],
            ),
            ("no chain: config order", &[("b", None), ("a", None)], &["b", "a"]),
            (
                "two environments promoted from one",
                &[("eu", Some("staging")), ("us", Some("staging")), ("staging", None)],
                &["staging", "eu", "us"],
            ),
        ];
        for (what, envs, want) in cases {
            assert_eq!(promotion_order(envs), want, "{what}");
        }
        let v = StatusView::build(
            &fleet(),
            &promotion_order(&[("production", Some("staging")), ("staging", None)]),
        );
        assert_eq!(v.matrix.environments, ["staging", "production"]);
        let names: Vec<&str> = v.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["staging", "production"]);
        assert!(v.matrix.rows.iter().all(|r| r.cells[0].environment == "staging"));
    }
}
