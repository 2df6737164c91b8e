//! Promotion lineage: walks the GitOps history (git2, no checkouts: blobs are read from each
//! commit's tree) to find digests that reached an environment without having been declared in
//! the environment it must be promoted from, at the same or an earlier commit. Digests are
//! matched as digests, not with their repository: promotion between repository tiers copies
//! the manifest, so the digest is what stays the same. Blocking; callers use a blocking thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{LazyLock, Mutex};

use git2::{ObjectType, Oid, Repository, Sort, TreeWalkMode, TreeWalkResult};

/// The digests under each set of paths at one commit.
type CommitDigests = (BTreeSet<String>, BTreeSet<String>);

/// Per (commit, paths) digest sets: commits never change, so this holds across audits.
static CACHE: LazyLock<Mutex<HashMap<(Oid, String), CommitDigests>>> = LazyLock::new(Default::default);

/// Digests declared under `to_paths` at HEAD that were never declared under `from_paths` at
/// that commit or before it (within `depth` commits), each with the commit that introduced it.
/// `dir` is the audited directory; patterns are relative to it.
pub fn skipped(
    dir: &Path,
    to_paths: &[String],
    from_paths: &[String],
    depth: usize,
) -> Result<BTreeMap<String, String>, String> {
    let repo = Repository::discover(dir)
        .map_err(|e| format!("{} is not in a git repository: {}", dir.display(), e.message()))?;
    let workdir = repo.workdir().ok_or("the repository has no working tree")?;
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let prefix = canonical(dir)
        .strip_prefix(canonical(workdir))
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let full = |patterns: &[String]| -> Vec<glob::Pattern> {
        patterns
            .iter()
            .filter_map(|p| {
                glob::Pattern::new(&if prefix.is_empty() {
                    p.clone()
                } else {
                    format!("{prefix}/{p}")
                })
                .ok()
            })
            .collect()
    };
    let (to, from) = (full(to_paths), full(from_paths));
    let key = format!("{to_paths:?}|{from_paths:?}|{prefix}");

    let mut walk = repo.revwalk().map_err(|e| e.message().to_string())?;
    walk.push_head().map_err(|e| e.message().to_string())?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .map_err(|e| e.message().to_string())?;
    // Newest first: index 0 is HEAD.
    let mut history: Vec<(Oid, CommitDigests)> = Vec::new();
    for oid in walk.take(depth) {
        let oid = oid.map_err(|e| e.message().to_string())?;
        let cached = CACHE.lock().expect("lineage cache").get(&(oid, key.clone())).cloned();
        let digests = match cached {
            Some(d) => d,
            None => {
                let d = digests_at(&repo, oid, &to, &from)?;
                CACHE
                    .lock()
                    .expect("lineage cache")
                    .insert((oid, key.clone()), d.clone());
                d
            }
        };
        history.push((oid, digests));
    }
    let Some((_, (at_head, _))) = history.first() else {
        return Ok(BTreeMap::new());
    };
    let window_full = history.len() == depth;
    let oldest = |in_set: &dyn Fn(&CommitDigests) -> bool| history.iter().rposition(|(_, d)| in_set(d));
    let mut out = BTreeMap::new();
    for digest in at_head {
        let introduced = oldest(&|d: &CommitDigests| d.0.contains(digest)).expect("present at HEAD");
        // Present since before the window: its lineage cannot be judged from what was read.
        if window_full && introduced == history.len() - 1 {
            continue;
        }
        let promoted = oldest(&|d: &CommitDigests| d.1.contains(digest)).is_some_and(|from_idx| from_idx >= introduced);
        if !promoted {
            out.insert(digest.clone(), history[introduced].0.to_string());
        }
    }
    Ok(out)
}

/// Digests in YAML/JSON files under the `to` and `from` patterns at `oid`.
fn digests_at(
    repo: &Repository,
    oid: Oid,
    to: &[glob::Pattern],
    from: &[glob::Pattern],
) -> Result<CommitDigests, String> {
    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| e.message().to_string())?;
    let mut out: CommitDigests = Default::default();
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    let under = |patterns: &[glob::Pattern], path: &str| {
        let mut ancestor = String::new();
        path.split('/').any(|component| {
            if !ancestor.is_empty() {
                ancestor.push('/');
            }
            ancestor.push_str(component);
            patterns.iter().any(|p| p.matches_with(&ancestor, options))
        })
    };
    let mut error = None;
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let name = entry.name().unwrap_or("");
        let is_manifest = [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) || name == "Kustomization";
        if entry.kind() != Some(ObjectType::Blob) || !is_manifest {
            return TreeWalkResult::Ok;
        }
        let path = format!("{root}{name}");
        let (in_to, in_from) = (under(to, &path), under(from, &path));
        if !in_to && !in_from {
            return TreeWalkResult::Ok;
        }
        match repo.find_blob(entry.id()) {
            Ok(blob) => {
                let found = find_digests(&String::from_utf8_lossy(blob.content()));
                if in_to {
                    out.0.extend(found.iter().cloned());
                }
                if in_from {
                    out.1.extend(found);
                }
                TreeWalkResult::Ok
            }
            Err(e) => {
                error = Some(e.message().to_string());
                TreeWalkResult::Abort
            }
        }
    })
    .map_err(|e| e.message().to_string())?;
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Every `sha256:<64 hex>` in `text`: image references and kustomize `images:` digests alike.
fn find_digests(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        let candidate = &rest[i..];
        let hex: String = candidate["sha256:".len()..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if hex.len() == 64 {
            out.insert(format!("sha256:{}", hex.to_ascii_lowercase()));
        }
        rest = &candidate["sha256:".len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_text() {
        let a = format!("sha256:{}", "a".repeat(64));
        let text = format!(
            "image: r/x@{a}\nimages:\n- name: y\n  digest: sha256:{}\nshort: sha256:abc\n",
            "b".repeat(64)
        );
        let found = find_digests(&text);
        assert_eq!(found.len(), 2);
        assert!(found.contains(&a));
    }
}
