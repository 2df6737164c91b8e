//! Promotion lineage: walks the GitOps history (git2, no checkouts: blobs are read from each
//! commit's tree) to find digests that reached an environment without having been declared in
//! the environment it must be promoted from, at the same or an earlier commit. Digests are
//! matched as digests, not with their repository: promotion between repository tiers copies
//! the manifest, so the digest is what stays the same. Blocking; callers use a blocking thread.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository, Sort, TreeWalkMode, TreeWalkResult};
use lru::LruCache;

use super::release_history::{HistoryRelease, ReleaseHistoryError, ReleaseRenders};
use crate::core::paths::{PathPattern, PatternError};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{dir} is not in a git repository: {reason}")]
    NotARepository { dir: String, reason: String },
    #[error("the repository has no working tree")]
    NoWorkTree,
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// git2's message only: its class and code add nothing for the reader.
    #[error("{0}")]
    Git(String),
    /// A Helm release whose past renders cannot be known.
    #[error(transparent)]
    Release(#[from] ReleaseHistoryError),
}

impl From<git2::Error> for HistoryError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e.message().to_string())
    }
}

/// The digests under each set of paths at one commit.
type CommitDigests = (BTreeSet<String>, BTreeSet<String>);

/// Per (commit, paths) digest sets, least recently used dropped past the bound. Commits never
/// change, so entries stay valid across audits; whoever runs audits owns one and passes it in.
pub struct HistoryCache {
    entries: Mutex<LruCache<(Oid, String), CommitDigests>>,
}

impl HistoryCache {
    /// Enough for the default 500-commit window of several environment pairs.
    pub const DEFAULT_CAPACITY: usize = 8192;

    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("history cache").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &(Oid, String)) -> Option<CommitDigests> {
        self.entries.lock().expect("history cache").get(key).cloned()
    }

    fn put(&self, key: (Oid, String), digests: CommitDigests) {
        self.entries.lock().expect("history cache").put(key, digests);
    }
}

impl Default for HistoryCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

/// What one environment declares, as the history walks read it: its `paths` and its Helm
/// releases (rendered at each commit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declares {
    pub paths: Vec<String>,
    pub releases: Vec<HistoryRelease>,
}

impl Declares {
    /// `env`'s paths and its releases from chart directories (a fetched chart is not the
    /// history's; config validation refuses `promoted_from` for environments holding one).
    pub fn of(env: &crate::config::EnvironmentConfig) -> Self {
        Self {
            paths: env.patterns(),
            releases: env.history_releases().filter_map(HistoryRelease::from_config).collect(),
        }
    }
}

/// Digests declared by `to` at HEAD that `from` never declared at that commit or before it
/// (within `depth` commits), each with the commit that introduced it. `dir` is the audited
/// directory; patterns and chart directories are relative to it.
pub fn skipped(
    dir: &Path,
    to: &Declares,
    from: &Declares,
    depth: usize,
    cache: &HistoryCache,
) -> Result<BTreeMap<String, String>, HistoryError> {
    let (repo, prefix) = open(dir)?;
    let key = format!("{to:?}|{from:?}|{prefix}");
    let to = Side {
        selection: Selection::new(&prefix, &to.paths)?,
        releases: &to.releases,
    };
    let from = Side {
        selection: Selection::new(&prefix, &from.paths)?,
        releases: &from.releases,
    };
    let mut renders = ReleaseRenders::default();

    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    // Newest first: index 0 is HEAD.
    let mut history: Vec<(Oid, CommitDigests)> = Vec::new();
    for oid in walk.take(depth) {
        let oid = oid?;
        let digests = match cache.get(&(oid, key.clone())) {
            Some(d) => d,
            None => {
                let d = digests_at(&repo, &prefix, oid, (&to, &from), &mut renders)?;
                cache.put((oid, key.clone()), d.clone());
                d
            }
        };
        history.push((oid, digests));
    }
    Ok(not_promoted(&history, depth))
}

/// The digests at HEAD (`history[0]`) whose first appearance is not preceded by the same digest
/// in the source environment, with the commit that introduced each.
fn not_promoted(history: &[(Oid, CommitDigests)], depth: usize) -> BTreeMap<String, String> {
    let Some((_, (at_head, _))) = history.first() else {
        return BTreeMap::new();
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
    out
}

/// The repository holding the audited `dir`, and `dir`'s path in it (`/`-separated, empty when
/// `dir` is the repository's root).
pub(super) fn open(dir: &Path) -> Result<(Repository, String), HistoryError> {
    let repo = Repository::discover(dir).map_err(|e| HistoryError::NotARepository {
        dir: dir.display().to_string(),
        reason: e.message().to_string(),
    })?;
    let workdir = repo.workdir().ok_or(HistoryError::NoWorkTree)?;
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let prefix = canonical(dir)
        .strip_prefix(canonical(workdir))
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    Ok((repo, prefix))
}

/// An environment's patterns below the audited directory (`prefix` in the repository).
pub(super) struct Selection<'a> {
    prefix: &'a str,
    patterns: Vec<PathPattern>,
}

impl<'a> Selection<'a> {
    pub(super) fn new(prefix: &'a str, patterns: &[String]) -> Result<Self, PatternError> {
        Ok(Self {
            prefix,
            patterns: patterns.iter().map(|p| PathPattern::new(p)).collect::<Result<_, _>>()?,
        })
    }

    /// `path` (from the repository root) relative to the audited directory, when it is inside.
    fn relative<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.prefix.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(self.prefix).and_then(|p| p.strip_prefix('/'))
        }
    }

    /// Whether the file at `path` (from the repository root) is read for these patterns: the
    /// same rule the renderer applies on disk.
    pub(super) fn selects(&self, path: &str) -> bool {
        self.relative(path)
            .is_some_and(|rel| self.patterns.iter().any(|p| p.selects(rel)))
    }

    /// Whether a file below the directory `dir` (from the repository root) may be selected: a
    /// walk skips the other subtrees, which is most of a repository holding many environments.
    pub(super) fn may_select_below(&self, dir: &str) -> bool {
        if self.prefix == dir || self.prefix.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')) {
            return true;
        }
        self.relative(dir)
            .is_some_and(|rel| self.patterns.iter().any(|p| p.may_contain(rel) || p.selects(rel)))
    }
}

/// Calls `visit` with the path (from the repository root) and blob id of each YAML/JSON file
/// (and `Kustomization`) in `tree`, descending only into directories `descend` accepts. The
/// first error `visit` returns stops the walk and is returned.
pub(super) fn walk_manifests(
    tree: &git2::Tree,
    mut descend: impl FnMut(&str) -> bool,
    mut visit: impl FnMut(&str, Oid) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let mut error = None;
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let name = entry.name().unwrap_or("");
        match entry.kind() {
            Some(ObjectType::Tree) if !descend(&format!("{root}{name}")) => TreeWalkResult::Skip,
            Some(ObjectType::Blob) if is_manifest(name) => match visit(&format!("{root}{name}"), entry.id()) {
                Ok(()) => TreeWalkResult::Ok,
                Err(e) => {
                    error = Some(e);
                    TreeWalkResult::Abort
                }
            },
            _ => TreeWalkResult::Ok,
        }
    })
    .or_else(|e| if error.is_some() { Ok(()) } else { Err(e) })?;
    error.map_or(Ok(()), Err)
}

pub(super) fn is_manifest(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) || name == "Kustomization"
}

/// One environment of a promotion: its selected paths and its releases.
struct Side<'a> {
    selection: Selection<'a>,
    releases: &'a [HistoryRelease],
}

/// Digests in YAML/JSON files under the `to` and `from` patterns at `oid`, and in what their
/// releases render there.
fn digests_at(
    repo: &Repository,
    prefix: &str,
    oid: Oid,
    (to_side, from_side): (&Side, &Side),
    renders: &mut ReleaseRenders,
) -> Result<CommitDigests, HistoryError> {
    let tree = repo.find_commit(oid).and_then(|c| c.tree())?;
    let mut out: CommitDigests = Default::default();
    for (side, set) in [(to_side, &mut out.0), (from_side, &mut out.1)] {
        for release in side.releases {
            if let Some(text) = renders.render(repo, oid, &tree, prefix, release)? {
                set.extend(find_digests(&text));
            }
        }
    }
    let (to, from) = (&to_side.selection, &from_side.selection);
    let descend = |dir: &str| to.may_select_below(dir) || from.may_select_below(dir);
    walk_manifests(&tree, descend, |path, blob| {
        let (in_to, in_from) = (to.selects(path), from.selects(path));
        if !in_to && !in_from {
            return Ok(());
        }
        let blob = repo.find_blob(blob)?;
        let found = find_digests(&String::from_utf8_lossy(blob.content()));
        if in_to {
            out.0.extend(found.iter().cloned());
        }
        if in_from {
            out.1.extend(found);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every `sha256:<64 hex>` in `text`: image references and kustomize `images:` digests alike.
fn find_digests(text: &str) -> BTreeSet<String> {
    digest_positions(text).map(|(_, d)| d).collect()
}

/// Each `sha256:<64 hex>` in `text` (lowercased) with the byte offset where it starts.
pub(super) fn digest_positions(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    text.match_indices("sha256:").filter_map(|(i, _)| {
        let hex = &text.as_bytes()[i + "sha256:".len()..];
        let len = hex.iter().take_while(|c| c.is_ascii_hexdigit()).count();
        (len == 64).then(|| {
            (
                i,
                format!("sha256:{}", String::from_utf8_lossy(&hex[..64]).to_ascii_lowercase()),
            )
        })
    })
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

    #[test]
    fn cache_keeps_at_most_its_capacity() {
        let cache = HistoryCache::new(2);
        for n in 0u8..5 {
            let oid = Oid::from_bytes(&[n; 20]).expect("oid");
            cache.put((oid, "k".into()), Default::default());
        }
        assert_eq!(cache.len(), 2);
        // The most recent entries are the ones kept.
        assert!(
            cache
                .get(&(Oid::from_bytes(&[4; 20]).expect("oid"), "k".into()))
                .is_some()
        );
        assert!(
            cache
                .get(&(Oid::from_bytes(&[0; 20]).expect("oid"), "k".into()))
                .is_none()
        );
    }

    #[test]
    fn invalid_pattern_is_an_error_not_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        git2::Repository::init(dir.path()).expect("init");
        let to = Declares {
            paths: vec!["apps/[".into()],
            ..Default::default()
        };
        let err = skipped(dir.path(), &to, &Declares::default(), 10, &HistoryCache::default()).expect_err("invalid");
        assert!(err.to_string().contains("\"apps/[\" is not a valid glob"), "{err}");
    }

    /// Commits `files` (path, content) to the repository at `dir`.
    fn commit(repo: &Repository, files: &[(&str, String)]) {
        let dir = repo.workdir().expect("workdir").to_path_buf();
        let mut index = repo.index().expect("index");
        for (path, text) in files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, text).expect("write");
            index.add_path(Path::new(path)).expect("add");
        }
        index.write().expect("index write");
        let tree = repo.find_tree(index.write_tree().expect("tree")).expect("tree");
        let sig = git2::Signature::now("t", "t@example.com").expect("signature");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &parents)
            .expect("commit");
    }

    /// The history walk reads the files the renderer reads: a digest only in a hidden folder
    /// below an environment's path is not declared there.
    #[test]
    fn hidden_folders_below_a_path_are_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init(dir.path()).expect("init");
        let (a, b) = (
            format!("sha256:{}", "a".repeat(64)),
            format!("sha256:{}", "b".repeat(64)),
        );
        commit(&repo, &[("README.md", "x".into())]);
        commit(
            &repo,
            &[
                ("apps/api/production/d.yaml", format!("image: r/x@{a}\n")),
                ("apps/api/production/.old/d.yaml", format!("image: r/x@{b}\n")),
            ],
        );
        let paths = |p: &str| Declares {
            paths: vec![p.to_string()],
            ..Default::default()
        };
        let (to, from) = (paths("apps/*/production"), paths("apps/*/dev"));
        let found = skipped(dir.path(), &to, &from, 10, &HistoryCache::default()).expect("walk");
        assert_eq!(found.keys().cloned().collect::<Vec<_>>(), vec![a]);
    }
}
