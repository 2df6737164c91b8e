//! Each environment's declared timeline from the GitOps history, for DORA: which commit declared
//! a digest in an environment, the first declaration of that digest along the `promoted_from`
//! chain (where lead time starts), and the commits that changed an image's declared digest
//! (deployments as git sees them). One walk reads every environment (git2, no checkouts: blobs
//! are read from each commit's tree). Blocking; callers use a blocking thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use git2::{ErrorCode, ObjectType, Oid, Repository, Sort};
use lru::LruCache;

mod extract;

use extract::{Found, extract, is_sha256, resolve, without_tag};

use super::git_history::{self, HistoryError, Selection};
use super::release_history::{HistoryRelease, ReleaseRenders};
use crate::core::dora::{Declaration, Deployment, DeploymentKind, Window};
use crate::core::model::Lookup;

/// An environment as the walk needs it: its `paths` (relative to the audited directory) and
/// where its digests are promoted from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentPaths {
    pub name: String,
    pub paths: Vec<String>,
    /// Helm releases from chart directories, rendered at each commit.
    pub releases: Vec<HistoryRelease>,
    pub promoted_from: Option<String>,
}

/// What the walked history declares, per commit and environment.
#[derive(Debug)]
pub struct Lineage {
    environments: Vec<EnvironmentPaths>,
    /// Newest first, in the walk's order (topological, then by time): HEAD is index 0, and a
    /// commit's ancestors come after it.
    commits: Vec<Commit>,
    /// The first-parent chain from HEAD as indices into `commits`, newest first. Deployments
    /// and `declared_by` follow it: a change reaches the environment when it reaches this
    /// line, and a side branch's commits would otherwise count once more at their merge.
    mainline: Vec<usize>,
    /// `[commit][environment]`; unchanged states are shared between commits.
    declared: Vec<Vec<Arc<Declared>>>,
    /// Tags (`repo:tag` as declared) → the digest the registry says they point to now
    /// ([`Lineage::resolve_tags`]); a tag not here has no registry configured.
    resolved: HashMap<String, Lookup<String>>,
}

/// Why a change's lineage cannot be judged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unjudged {
    #[error("a moving tag (`latest`, or no tag): the same reference may be other content")]
    MovingTag,
    #[error("a tag and a digest to compare, and no registry configured for {0}")]
    NoRegistry(String),
    #[error("{0} not found in the registry")]
    NotFound(String),
    #[error("registry unreachable for {0}: {1}")]
    Unreachable(String, String),
}

#[derive(Debug)]
struct Commit {
    id: String,
    at: DateTime<Utc>,
    revert: bool,
    /// Whether the commit has no parent: its images appear there, rather than before the
    /// walked window.
    root: bool,
}

/// What one environment declares at one commit.
#[derive(Debug, Default, PartialEq, Eq)]
struct Declared {
    /// What runs an image → the versions it declares: a workload's container (`namespace/Kind/
    /// name`, container) when the manifest names it, else the image repository (as written,
    /// without a tag) and an empty container. Usually one version; several when workloads of
    /// the environment run the same image at different versions.
    images: BTreeMap<Key, BTreeSet<String>>,
    /// Every version declared (digests, and `repo:tag` references without a digest),
    /// including digests whose image is unknown.
    digests: BTreeSet<String>,
    /// Image repository (as written, without a tag) → its versions, whatever runs them.
    repos: BTreeMap<String, BTreeSet<String>>,
}

/// What a deployment is of: (workload or image repository, container or empty).
type Key = (String, String);

/// Distinct file versions (and directory versions) read once per walk: they repeat across most
/// commits.
const CACHE: usize = 8192;

/// Walks HEAD's history (all parents, topological then by time, newest first, at most `depth`
/// commits) once for all `envs`. `dir` is the audited directory; `paths` are relative to it. A
/// repository without commits has an empty history.
pub fn walk(dir: &Path, envs: &[EnvironmentPaths], depth: usize) -> Result<Lineage, HistoryError> {
    let (repo, prefix) = git_history::open(dir)?;
    let selections = envs
        .iter()
        .map(|e| Selection::new(&prefix, &e.paths))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lineage = Lineage {
        environments: envs.to_vec(),
        commits: Vec::new(),
        mainline: Vec::new(),
        declared: Vec::new(),
        resolved: HashMap::new(),
    };
    match repo.head() {
        Err(e) if e.code() == ErrorCode::UnbornBranch => return Ok(lineage),
        other => other?,
    };
    let mut revwalk = repo.revwalk()?;
    revwalk.push_head()?;
    revwalk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    let oids = revwalk.take(depth).collect::<Result<Vec<Oid>, _>>()?;
    let index: HashMap<Oid, usize> = oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();

    let mut reader = Reader {
        repo: &repo,
        prefix: &prefix,
        envs,
        renders: ReleaseRenders::default(),
        rendered: LruCache::new(NonZeroUsize::new(CACHE).expect("non-zero")),
        selections: &selections,
        blobs: LruCache::new(NonZeroUsize::new(CACHE).expect("non-zero")),
        subtrees: LruCache::new(NonZeroUsize::new(CACHE).expect("non-zero")),
        last: vec![None; envs.len()],
    };
    let mut first_parents = Vec::with_capacity(oids.len());
    for &oid in &oids {
        let commit = repo.find_commit(oid)?;
        let message = String::from_utf8_lossy(commit.message_bytes());
        lineage.commits.push(Commit {
            id: oid.to_string(),
            at: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
            revert: is_revert(&message),
            root: commit.parent_count() == 0,
        });
        first_parents.push(commit.parent_id(0).ok().and_then(|p| index.get(&p).copied()));
        lineage.declared.push(reader.declared_at(oid, &commit.tree()?)?);
    }
    if !oids.is_empty() {
        let mut at = Some(0);
        while let Some(i) = at {
            lineage.mainline.push(i);
            at = first_parents[i];
        }
    }
    Ok(lineage)
}

/// The files an environment reads at one commit: path (from the repository root) and blob.
type Files = Vec<(Arc<str>, Oid)>;

/// The manifests below one directory that some environment reads: path, blob, and the indices
/// of the environments that read it.
type Manifests = Arc<[(Arc<str>, Oid, Arc<[usize]>)]>;

/// How deep directories are read: far below any real layout, and it bounds the recursion on a
/// hostile tree.
const MAX_LEVELS: usize = 64;

/// Reads what each environment declares at a commit, reusing what earlier commits read.
struct Reader<'a> {
    repo: &'a Repository,
    /// The audited directory in the repository.
    prefix: &'a str,
    envs: &'a [EnvironmentPaths],
    renders: ReleaseRenders,
    /// A release's rendered output (by its blob id, as if committed) → what it declares.
    rendered: LruCache<Oid, Arc<[Found]>>,
    selections: &'a [Selection<'a>],
    blobs: LruCache<Oid, Arc<[Found]>>,
    /// (directory, tree) → its manifests. A commit changes a few directories: the others are
    /// the same trees as at the commit before, and are not read again.
    subtrees: LruCache<(String, Oid), Manifests>,
    /// Per environment, the files it read at the previous commit and what they declared.
    last: Vec<Option<(Files, Arc<Declared>)>>,
}

impl Reader<'_> {
    fn declared_at(&mut self, commit: Oid, tree: &git2::Tree) -> Result<Vec<Arc<Declared>>, HistoryError> {
        let mut files: Vec<Files> = vec![Vec::new(); self.selections.len()];
        for (path, blob, envs) in self.manifests_below("", tree, 0)?.iter() {
            for &e in envs.iter() {
                files[e].push((path.clone(), *blob));
            }
        }
        // Each release's output reads as one more file of its environment.
        for (e, env) in self.envs.iter().enumerate() {
            for release in &env.releases {
                let Some(text) = self.renders.render(self.repo, commit, tree, self.prefix, release)? else {
                    continue;
                };
                let id = Oid::hash_object(ObjectType::Blob, text.as_bytes())?;
                if !self.rendered.contains(&id) {
                    self.rendered.put(id, extract(&text).into());
                }
                files[e].push((format!("release {}/output", release.name).into(), id));
            }
        }
        let mut out = Vec::with_capacity(files.len());
        for (e, files) in files.into_iter().enumerate() {
            // Most commits leave an environment's files as they were.
            if let Some((last_files, declared)) = &self.last[e]
                && *last_files == files
            {
                out.push(declared.clone());
                continue;
            }
            let mut found = Vec::with_capacity(files.len());
            for (path, blob) in &files {
                let from_release = path.starts_with("release ").then(|| self.rendered.get(blob).cloned());
                let f = match from_release.flatten() {
                    Some(f) => f,
                    None => self.found_in(*blob)?,
                };
                found.push((&**path, f));
            }
            let declared = Arc::new(resolve(&found));
            self.last[e] = Some((files, declared.clone()));
            out.push(declared);
        }
        Ok(out)
    }

    /// The manifests some environment reads in `tree`, the directory at `dir`, skipping the
    /// subtrees none of them may read (the rule [`git_history::walk_manifests`] follows).
    fn manifests_below(&mut self, dir: &str, tree: &git2::Tree, level: usize) -> Result<Manifests, HistoryError> {
        let key = (dir.to_string(), tree.id());
        if let Some(found) = self.subtrees.get(&key) {
            return Ok(found.clone());
        }
        let mut out = Vec::new();
        for entry in tree.iter() {
            let Ok(name) = entry.name() else { continue };
            let path = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            match entry.kind() {
                Some(ObjectType::Tree)
                    if level < MAX_LEVELS && self.selections.iter().any(|s| s.may_select_below(&path)) =>
                {
                    let subtree = self.repo.find_tree(entry.id())?;
                    out.extend(self.manifests_below(&path, &subtree, level + 1)?.iter().cloned());
                }
                Some(ObjectType::Blob) if git_history::is_manifest(name) => {
                    let envs: Arc<[usize]> = (0..self.selections.len())
                        .filter(|&e| self.selections[e].selects(&path))
                        .collect();
                    if !envs.is_empty() {
                        out.push((path.into(), entry.id(), envs));
                    }
                }
                _ => {}
            }
        }
        let out: Manifests = out.into();
        self.subtrees.put(key, out.clone());
        Ok(out)
    }

    fn found_in(&mut self, blob: Oid) -> Result<Arc<[Found]>, HistoryError> {
        if let Some(found) = self.blobs.get(&blob) {
            return Ok(found.clone());
        }
        let found: Arc<[Found]> = extract(&String::from_utf8_lossy(self.repo.find_blob(blob)?.content())).into();
        self.blobs.put(blob, found.clone());
        Ok(found)
    }
}

/// A tag that moves by design: `latest`, or no tag at all.
fn is_moving(reference: &str) -> bool {
    let tag = reference.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
    matches!(tag, None | Some("latest"))
}

/// `git revert`'s subject (`Revert "…"`) or its `This reverts commit …` body line.
fn is_revert(message: &str) -> bool {
    message.starts_with("Revert \"") || message.contains("This reverts commit ")
}

impl Lineage {
    /// The time of the oldest commit walked (`dora --since all`).
    pub fn first_commit_at(&self) -> Option<DateTime<Utc>> {
        self.commits.iter().map(|c| c.at).min()
    }

    fn environment(&self, name: &str) -> Option<usize> {
        self.environments.iter().position(|e| e.name == name)
    }

    fn declaration(&self, env: usize, commit: usize) -> Declaration {
        let c = &self.commits[commit];
        Declaration {
            environment: self.environments[env].name.clone(),
            commit: c.id.clone(),
            at: c.at,
            revert: c.revert,
        }
    }

    /// The commit that declared `digest` in `env` most recently: the oldest commit of the
    /// latest unbroken run of commits (HEAD's first-parent line) declaring it there. `None`
    /// when HEAD does not declare it there. A run reaching the end of the walked window starts
    /// at the oldest walked commit.
    pub fn declared_by(&self, env: &str, digest: &str) -> Option<Declaration> {
        let e = self.environment(env)?;
        let run = self
            .mainline
            .iter()
            .take_while(|&&c| self.declared[c][e].digests.contains(digest))
            .last()?;
        Some(self.declaration(e, *run))
    }

    /// Where a deployment observed running `digest` in `env`'s `workload` container (`namespace/
    /// Kind/name`, container) was declared, and its lineage: the digest's own declaration;
    /// else, when HEAD declares that container by tag alone, the tag's (what the cluster pulled
    /// for it). A manifest without a namespace names the workload `Kind/name`.
    pub fn attribute(
        &self,
        env: &str,
        workload: (&str, &str),
        digest: &str,
    ) -> (Option<Declaration>, Vec<Declaration>) {
        let own = self.declared_by(env, digest);
        match (&own, self.tag_of(env, workload)) {
            (None, Some(tag)) => (self.declared_by(env, &tag), self.lineage(env, &tag)),
            _ => (own, self.lineage(env, digest)),
        }
    }

    /// The one version HEAD declares for `workload`'s container in `env`, when it is a tag.
    fn tag_of(&self, env: &str, (workload, container): (&str, &str)) -> Option<String> {
        let declared = &self.declared[*self.mainline.first()?][self.environment(env)?];
        let unqualified = workload.split_once('/').map(|(_, rest)| rest);
        let versions = [Some(workload), unqualified]
            .into_iter()
            .flatten()
            .find_map(|w| declared.images.get(&(w.to_string(), container.to_string())))?;
        match versions.iter().collect::<Vec<_>>()[..] {
            [v] if !is_sha256(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// The first declaration of `digest` in each environment of `env`'s `promoted_from` chain,
    /// first environment first, ending with `env`'s own [`Lineage::declared_by`]. Earlier
    /// environments count only declarations at or before that one (all of the window when
    /// `env` does not declare the digest at HEAD); environments where it never appears are
    /// skipped.
    pub fn lineage(&self, env: &str, digest: &str) -> Vec<Declaration> {
        let Some(e) = self.environment(env) else {
            return Vec::new();
        };
        let own = self.declared_by(env, digest);
        let as_of = own
            .as_ref()
            .and_then(|d| self.commits.iter().position(|c| c.id == d.commit))
            .unwrap_or(0);
        self.lineage_at(e, digest, as_of, own).unwrap_or_default()
    }

    /// `lineage` as of the commit at `as_of`: first declarations upstream at that commit or
    /// older, then `own`. A version is found upstream as declared, or (a digest, or a tag the
    /// registry resolved) as any version standing for the same digest. An error when the
    /// version cannot be compared with what the upstream environments declare (see
    /// [`Lineage::judgeable`]).
    fn lineage_at(
        &self,
        env: usize,
        version: &str,
        as_of: usize,
        own: Option<Declaration>,
    ) -> Result<Vec<Declaration>, Unjudged> {
        let chain = self.chain(env);
        let upstream = &chain[..chain.len() - 1];
        let id = self.identity(version).filter(|_| !self.resolved.is_empty());
        let declares = |c: usize, u: usize| {
            let versions = &self.declared[c][u].digests;
            versions.contains(version) || id.is_some_and(|id| versions.iter().any(|v| self.identity(v) == Some(id)))
        };
        let first = |u: usize| (as_of..self.commits.len()).rev().find(|&c| declares(c, u));
        if !upstream.is_empty() {
            let missing = upstream.iter().copied().filter(|&u| first(u).is_none());
            self.judgeable(env, version, as_of, missing)?;
        }
        let mut out: Vec<Declaration> = upstream
            .iter()
            .filter_map(|&u| first(u).map(|c| self.declaration(u, c)))
            .collect();
        out.extend(own);
        Ok(out)
    }

    /// The digest `version` stands for: itself when it is one, a tag's as the registry
    /// resolved it.
    fn identity<'a>(&'a self, version: &'a str) -> Option<&'a str> {
        if is_sha256(version) {
            return Some(version);
        }
        match self.resolved.get(version) {
            Some(Lookup::Found(digest)) => Some(digest),
            _ => None,
        }
    }

    /// Whether `version`, declared in `env` at commit `at`, can be followed upstream: not a
    /// moving tag, and no upstream environment it is `missing` from declares its image in the
    /// other form (a digest where it is a tag, or a tag where it is a digest) unless the
    /// registry resolved that tag: otherwise the two cannot be compared.
    fn judgeable(
        &self,
        env: usize,
        version: &str,
        at: usize,
        missing: impl Iterator<Item = usize>,
    ) -> Result<(), Unjudged> {
        let digest = is_sha256(version);
        if !digest && is_moving(version) {
            return Err(Unjudged::MovingTag);
        }
        let repos: Vec<&String> = self.declared[at][env]
            .repos
            .iter()
            .filter(|(_, vs)| vs.contains(version))
            .map(|(r, _)| r)
            .collect();
        for u in missing {
            let other_form = repos
                .iter()
                .filter_map(|r| self.declared[at][u].repos.get(*r))
                .flatten()
                .filter(|v| is_sha256(v) != digest);
            for v in other_form {
                let tag = if digest { v.as_str() } else { version };
                self.comparable(tag)?;
            }
        }
        Ok(())
    }

    /// Whether the tag `tag` can be compared with a digest: the registry resolved it.
    fn comparable(&self, tag: &str) -> Result<(), Unjudged> {
        if is_moving(tag) {
            return Err(Unjudged::MovingTag);
        }
        match self.resolved.get(tag) {
            Some(Lookup::Found(_)) => Ok(()),
            Some(Lookup::NotFound) => Err(Unjudged::NotFound(tag.to_string())),
            Some(Lookup::Unavailable(why)) => Err(Unjudged::Unreachable(tag.to_string(), why.clone())),
            None => Err(Unjudged::NoRegistry(without_tag(tag).to_string())),
        }
    }

    /// Every tag declared in the walked history (`repo:tag` as declared), moving tags left
    /// out: what [`Lineage::resolve_tags`] can be given.
    pub fn tags(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        let mut seen: std::collections::HashSet<*const Declared> = std::collections::HashSet::new();
        for declared in self.declared.iter().flatten() {
            if !seen.insert(Arc::as_ptr(declared)) {
                continue;
            }
            out.extend(
                declared
                    .digests
                    .iter()
                    .filter(|v| !is_sha256(v) && !is_moving(v))
                    .map(String::as_str),
            );
        }
        out
    }

    /// What the registry says the tags point to now (tag → digest, not found, or why it could
    /// not be asked): lineage then compares a tag with a digest, and two tags, by digest. A tag
    /// left out has no registry configured.
    pub fn resolve_tags(&mut self, resolved: HashMap<String, Lookup<String>>) {
        self.resolved = resolved;
    }

    /// `env` and the environments it is promoted from, first environment first. A cycle or an
    /// unknown name ends the chain.
    fn chain(&self, env: usize) -> Vec<usize> {
        let mut chain = vec![env];
        let mut at = env;
        while let Some(next) = self.environments[at]
            .promoted_from
            .as_deref()
            .and_then(|n| self.environment(n))
        {
            if chain.contains(&next) {
                break;
            }
            chain.push(next);
            at = next;
        }
        chain.reverse();
        chain
    }

    /// Declared-side deployments (`Source::Git`) committed in `window`: per environment, one per
    /// workload container (or image, when no workload names it) whose declared version (digest,
    /// or tag without one) a commit of HEAD's first-parent line changed (from its first
    /// parent), oldest first. An image that appears is deployed (no previous digest); one that
    /// disappears is not. The oldest walked commit is the baseline unless it is the root commit.
    /// Several digests of one image that change at once are paired in digest order.
    pub fn deployments(&self, window: &Window) -> Vec<Deployment> {
        let mut out = Vec::new();
        for e in 0..self.environments.len() {
            // Per workload (or image), every version it had here up to the previous commit.
            let mut seen: HashMap<&Key, BTreeSet<&str>> = HashMap::new();
            let empty = Arc::new(Declared::default());
            for (pos, &c) in self.mainline.iter().enumerate().rev() {
                let now = &self.declared[c][e];
                let before = match self.mainline.get(pos + 1) {
                    Some(&p) => Some(&self.declared[p][e]),
                    None => self.commits[c].root.then_some(&empty),
                };
                if let Some(before) = before
                    && !Arc::ptr_eq(now, before)
                    && window.contains(self.commits[c].at)
                {
                    for (key, digests) in &now.images {
                        let old = before.images.get(key);
                        let added = digests.iter().filter(|d| !old.is_some_and(|o| o.contains(*d)));
                        let mut removed = old.into_iter().flatten().filter(|d| !digests.contains(*d));
                        for digest in added {
                            let previous = removed.next();
                            let kind = if seen.get(key).is_some_and(|s| s.contains(digest.as_str())) {
                                DeploymentKind::Rollback
                            } else {
                                DeploymentKind::Promotion
                            };
                            let declared = self.declaration(e, c);
                            let lineage = self.lineage_at(e, digest, c, Some(declared.clone()));
                            out.push(Deployment {
                                environment: self.environments[e].name.clone(),
                                workload: key.0.clone(),
                                container: key.1.clone(),
                                digest: digest.clone(),
                                previous_digest: previous.cloned(),
                                kind,
                                started_at: declared.at,
                                completed_at: Some(declared.at),
                                lineage_unjudged: lineage.as_ref().err().map(ToString::to_string),
                                lineage: lineage.unwrap_or_default(),
                                declared: Some(declared),
                            });
                        }
                    }
                }
                for (key, digests) in &now.images {
                    seen.entry(key).or_default().extend(digests.iter().map(String::as_str));
                }
            }
        }
        out.sort_by(|a, b| {
            (a.started_at, &a.environment, &a.workload, &a.digest).cmp(&(
                b.started_at,
                &b.environment,
                &b.workload,
                &b.digest,
            ))
        });
        out
    }
}

/// The last walk, for the commit it walked: the daemon audits one commit many times, and a
/// walk of a large fleet's history costs about a tenth of an audit. One entry, replaced when
/// the commit, the environments or the depth change.
#[derive(Debug, Default)]
pub struct LineageCache {
    /// Per repository (its directory): the last walk.
    last: std::sync::Mutex<HashMap<std::path::PathBuf, (String, Arc<Lineage>)>>,
}

impl LineageCache {
    /// The walk of `dir` at `commit` (`None`: not cached), walked on a blocking thread when it
    /// is not the last one of that directory.
    pub async fn walk(
        &self,
        dir: &Path,
        commit: Option<&str>,
        envs: &[EnvironmentPaths],
        depth: usize,
    ) -> Result<Arc<Lineage>, HistoryError> {
        let key = commit.map(|c| format!("{c}|{depth}|{envs:?}"));
        if let Some(key) = &key
            && let Some((k, l)) = self.last.lock().expect("lineage cache").get(dir)
            && k == key
        {
            return Ok(l.clone());
        }
        let (at, envs) = (dir.to_path_buf(), envs.to_vec());
        let walked = tokio::task::spawn_blocking(move || walk(&at, &envs, depth))
            .await
            .map_err(|e| HistoryError::Git(format!("history walk failed: {e}")))??;
        let walked = Arc::new(walked);
        if let Some(key) = key {
            self.last
                .lock()
                .expect("lineage cache")
                .insert(dir.to_path_buf(), (key, walked.clone()));
        }
        Ok(walked)
    }
}

#[cfg(test)]
mod tests {
    use super::extract::Container;
    use super::*;
    use git2::{IndexEntry, IndexTime, Signature, Time};

    /// `sha256:` and 64 times `c`.
    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn deployment(image: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: {image}\n"
        )
    }

    fn env(name: &str, paths: &[&str], promoted_from: Option<&str>) -> EnvironmentPaths {
        EnvironmentPaths {
            name: name.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            releases: Vec::new(),
            promoted_from: promoted_from.map(str::to_string),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("time")
    }

    fn window(since: i64, until: i64) -> Window {
        Window {
            since: at(since),
            until: at(until),
        }
    }

    /// A repository whose commits are built from in-memory trees, with fixed commit times.
    struct History {
        dir: tempfile::TempDir,
        repo: Repository,
        files: BTreeMap<String, String>,
        head: Option<Oid>,
    }

    impl History {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let repo = Repository::init(dir.path()).expect("init");
            Self {
                dir,
                repo,
                files: BTreeMap::new(),
                head: None,
            }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Applies `changes` (path, new content or `None` to delete) and commits them on HEAD.
        fn commit(&mut self, at: i64, message: &str, changes: &[(&str, Option<String>)]) -> Oid {
            for (path, text) in changes {
                match text {
                    Some(t) => self.files.insert(path.to_string(), t.clone()),
                    None => self.files.remove(*path),
                };
            }
            let parents: Vec<Oid> = self.head.into_iter().collect();
            let files = self.files.clone();
            let oid = self.commit_tree(&parents, at, message, &files);
            self.set_head(oid);
            oid
        }

        /// A commit of exactly `files` with `parents`, leaving HEAD alone.
        fn commit_tree(&self, parents: &[Oid], at: i64, message: &str, files: &BTreeMap<String, String>) -> Oid {
            let mut index = git2::Index::new().expect("index");
            for (path, text) in files {
                let zero = IndexTime::new(0, 0);
                index
                    .add(&IndexEntry {
                        ctime: zero,
                        mtime: zero,
                        dev: 0,
                        ino: 0,
                        mode: 0o100644,
                        uid: 0,
                        gid: 0,
                        file_size: text.len() as u32,
                        id: self.repo.blob(text.as_bytes()).expect("blob"),
                        flags: 0,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    })
                    .expect("add");
            }
            let tree = self
                .repo
                .find_tree(index.write_tree_to(&self.repo).expect("tree"))
                .expect("tree");
            let sig = Signature::new("t", "t@example.com", &Time::new(at, 0)).expect("signature");
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| self.repo.find_commit(*p).expect("parent"))
                .collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            self.repo
                .commit(None, &sig, &sig, message, &tree, &parents)
                .expect("commit")
        }

        fn set_head(&mut self, oid: Oid) {
            self.repo.reference("refs/heads/main", oid, true, "test").expect("ref");
            self.repo.set_head("refs/heads/main").expect("head");
            self.head = Some(oid);
        }
    }

    fn pipeline() -> Vec<EnvironmentPaths> {
        vec![
            env("dev", &["envs/dev"], None),
            env("staging", &["envs/staging"], Some("dev")),
            env("production", &["envs/production"], Some("staging")),
        ]
    }

    fn set(env: &str, digest: &str) -> (String, Option<String>) {
        (
            format!("envs/{env}/api.yaml"),
            Some(deployment(&format!("reg.example/api:1@{digest}"))),
        )
    }

    fn commit_set(h: &mut History, at: i64, message: &str, envs: &[(&str, char)]) -> Oid {
        let changes: Vec<(String, Option<String>)> = envs.iter().map(|(e, c)| set(e, &d(*c))).collect();
        let changes: Vec<(&str, Option<String>)> = changes.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        h.commit(at, message, &changes)
    }

    /// Times of the declarations, with their environments.
    fn times(decls: &[Declaration]) -> Vec<(String, i64)> {
        decls
            .iter()
            .map(|d| (d.environment.clone(), d.at.timestamp()))
            .collect()
    }

    /// a, then b, promoted along dev → staging → production (b not yet to production); a
    /// hotfix e straight to production, later taken into dev; a commit that declares nothing.
    fn promotions() -> Lineage {
        let mut h = History::new();
        commit_set(&mut h, 1000, "dev a", &[("dev", 'a')]);
        commit_set(&mut h, 2000, "staging a", &[("staging", 'a')]);
        commit_set(&mut h, 3000, "production a", &[("production", 'a')]);
        commit_set(&mut h, 5000, "dev b", &[("dev", 'b')]);
        commit_set(&mut h, 6000, "staging b", &[("staging", 'b')]);
        // A hotfix straight to production, later taken into dev.
        commit_set(&mut h, 7000, "hotfix", &[("production", 'e')]);
        commit_set(&mut h, 8000, "dev e", &[("dev", 'e')]);
        h.commit(9000, "docs", &[("README.md", Some("x".into()))]);
        walk(h.path(), &pipeline(), 100).expect("walk")
    }

    #[test]
    fn promotion_lineage_has_each_environments_commit_time() {
        let lineage = promotions();
        let s = |e: &str, t: i64| (e.to_string(), t);
        // (case, environment, digest, lineage)
        let cases = [
            (
                "promoted through every stage",
                "production",
                'a',
                vec![s("dev", 1000), s("staging", 2000)],
            ),
            (
                "in flight: upstream only",
                "production",
                'b',
                vec![s("dev", 5000), s("staging", 6000)],
            ),
            (
                "declared at HEAD",
                "staging",
                'b',
                vec![s("dev", 5000), s("staging", 6000)],
            ),
            (
                "upstream declarations after it reached the environment do not count",
                "production",
                'e',
                vec![s("production", 7000)],
            ),
            ("never declared", "production", 'f', vec![]),
            ("unknown environment", "qa", 'a', vec![]),
        ];
        for (case, environment, digest, want) in cases {
            assert_eq!(times(&lineage.lineage(environment, &d(digest))), want, "{case}");
        }
        // Production moved on from a: it declares it no more.
        assert_eq!(lineage.declared_by("production", &d('a')), None);
        let by = lineage.declared_by("staging", &d('b')).expect("declared");
        assert_eq!((by.at, by.revert), (at(6000), false));
    }

    #[test]
    fn each_declaration_along_the_promotion_chain_is_a_deployment_with_its_lineage() {
        let lineage = promotions();
        let s = |e: &str, t: i64| (e.to_string(), t);
        // Environment, commit time, digest, previous digest, kind, lineage.
        type Row = (String, i64, String, Option<String>, DeploymentKind, Vec<(String, i64)>);
        let deployed: Vec<Row> = lineage
            .deployments(&window(0, 10_000))
            .into_iter()
            .map(|dep| {
                assert_eq!(
                    (dep.workload.as_str(), dep.container.as_str()),
                    ("Deployment/api", "api")
                );
                assert_eq!(
                    (dep.started_at, dep.completed_at),
                    (dep.declared.as_ref().expect("declared").at, Some(dep.started_at))
                );
                (
                    dep.environment,
                    dep.started_at.timestamp(),
                    dep.digest,
                    dep.previous_digest,
                    dep.kind,
                    times(&dep.lineage),
                )
            })
            .collect();
        let p = DeploymentKind::Promotion;
        assert_eq!(
            deployed,
            vec![
                ("dev".into(), 1000, d('a'), None, p, vec![s("dev", 1000)]),
                (
                    "staging".into(),
                    2000,
                    d('a'),
                    None,
                    p,
                    vec![s("dev", 1000), s("staging", 2000)]
                ),
                (
                    "production".into(),
                    3000,
                    d('a'),
                    None,
                    p,
                    vec![s("dev", 1000), s("staging", 2000), s("production", 3000)]
                ),
                ("dev".into(), 5000, d('b'), Some(d('a')), p, vec![s("dev", 5000)]),
                (
                    "staging".into(),
                    6000,
                    d('b'),
                    Some(d('a')),
                    p,
                    vec![s("dev", 5000), s("staging", 6000)]
                ),
                (
                    "production".into(),
                    7000,
                    d('e'),
                    Some(d('a')),
                    p,
                    vec![s("production", 7000)]
                ),
                ("dev".into(), 8000, d('e'), Some(d('b')), p, vec![s("dev", 8000)]),
            ]
        );
    }

    #[test]
    fn deployments_mark_rollbacks_and_reverts_within_the_window() {
        let mut h = History::new();
        let web = |c: char| Some(deployment(&format!("reg.example/web@{}", d(c))).replace("name: api", "name: web"));
        h.commit(
            100,
            "first",
            &[
                ("envs/production/api.yaml", set("production", &d('a')).1),
                ("envs/production/web.yaml", web('1')),
            ],
        );
        commit_set(&mut h, 200, "api b", &[("production", 'b')]);
        let b = h.head.expect("head");
        commit_set(
            &mut h,
            300,
            &format!("Revert \"api b\"\n\nThis reverts commit {b}.\n"),
            &[("production", 'a')],
        );
        commit_set(&mut h, 400, "api c", &[("production", 'c')]);
        commit_set(&mut h, 450, "back to b", &[("production", 'b')]);
        h.commit(500, "retire web", &[("envs/production/web.yaml", None)]);
        commit_set(&mut h, 600, "api d", &[("production", 'd')]);
        let lineage = walk(h.path(), &pipeline(), 100).expect("walk");

        let (p, r) = (DeploymentKind::Promotion, DeploymentKind::Rollback);
        // (case, window, deployments: time, workload, digest, previous, kind, revert)
        let cases = [
            (
                "the first commit deploys every image",
                window(0, 150),
                vec![
                    (100, "Deployment/api", 'a', None, p, false),
                    (100, "Deployment/web", '1', None, p, false),
                ],
            ),
            (
                "a revert back to the previous digest is a rollback; removing an image is no deployment",
                window(150, 1000),
                vec![
                    (200, "Deployment/api", 'b', Some('a'), p, false),
                    (300, "Deployment/api", 'a', Some('b'), r, true),
                    (400, "Deployment/api", 'c', Some('a'), p, false),
                    (450, "Deployment/api", 'b', Some('c'), r, false),
                    (600, "Deployment/api", 'd', Some('b'), p, false),
                ],
            ),
            (
                "commits outside the window are left out",
                window(300, 450),
                vec![
                    (300, "Deployment/api", 'a', Some('b'), r, true),
                    (400, "Deployment/api", 'c', Some('a'), p, false),
                ],
            ),
        ];
        for (case, window, want) in cases {
            let got: Vec<_> = lineage
                .deployments(&window)
                .into_iter()
                .map(|dep| {
                    let declared = dep.declared.expect("declared");
                    (
                        dep.started_at.timestamp(),
                        dep.workload,
                        dep.digest,
                        dep.previous_digest,
                        dep.kind,
                        declared.revert,
                    )
                })
                .collect();
            let want: Vec<_> = want
                .into_iter()
                .map(|(t, w, digest, prev, kind, revert)| (t, w.to_string(), d(digest), prev.map(d), kind, revert))
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn declared_by_is_the_latest_run_of_commits() {
        let mut h = History::new();
        commit_set(&mut h, 100, "a", &[("production", 'a')]);
        commit_set(&mut h, 200, "b", &[("production", 'b')]);
        commit_set(&mut h, 300, "a again", &[("production", 'a')]);
        h.commit(400, "docs", &[("README.md", Some("x".into()))]);
        let lineage = walk(h.path(), &pipeline(), 100).expect("walk");
        let by = lineage.declared_by("production", &d('a')).expect("declared at HEAD");
        assert_eq!((by.environment.as_str(), by.at), ("production", at(300)));
        assert_eq!(lineage.declared_by("production", &d('b')), None, "left at 300");
    }

    #[test]
    fn kustomize_image_entries_name_the_image_and_override_references() {
        let mut h = History::new();
        let kustomization = |c: char| {
            Some(format!(
                "resources:\n- ../../base\nimages:\n- name: api\n  newName: reg.example/team/api\n  digest: {}\n- name: reg.example/sidecar\n  digest: {}\n",
                d(c),
                d('9')
            ))
        };
        // The audited directory is below the repository's root.
        h.commit(
            100,
            "overlay",
            &[
                ("gitops/envs/production/kustomization.yaml", kustomization('a')),
                // Rewritten by the entry above when rendered: not what production runs.
                (
                    "gitops/envs/production/api.yaml",
                    Some(deployment(&format!("api@{}", d('f')))),
                ),
            ],
        );
        h.commit(
            200,
            "bump",
            &[("gitops/envs/production/kustomization.yaml", kustomization('b'))],
        );
        let audited = h.path().join("gitops");
        std::fs::create_dir(&audited).expect("mkdir");
        let lineage = walk(&audited, &pipeline(), 100).expect("walk");
        let got: Vec<_> = lineage
            .deployments(&window(0, 1000))
            .into_iter()
            .map(|dep| {
                (
                    dep.started_at.timestamp(),
                    dep.workload,
                    dep.digest,
                    dep.previous_digest,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (100, "Deployment/api".to_string(), d('a'), None),
                (100, "reg.example/sidecar".to_string(), d('9'), None),
                (200, "Deployment/api".to_string(), d('b'), Some(d('a'))),
            ],
            "the entry names the workload whose image it rewrites; an entry without one here, its image"
        );
        assert_eq!(lineage.declared_by("production", &d('f')), None);
    }

    #[test]
    fn malformed_yaml_still_declares_its_digests() {
        let mut h = History::new();
        let broken = |c: char| {
            Some(format!(
                "containers:\n- image: reg.example/api@{}\n  args: [unclosed\n",
                d(c)
            ))
        };
        h.commit(100, "a", &[("envs/production/api.yaml", broken('a'))]);
        h.commit(200, "b", &[("envs/production/api.yaml", broken('b'))]);
        let lineage = walk(h.path(), &pipeline(), 100).expect("walk");
        assert_eq!(lineage.declared_by("production", &d('b')).map(|d| d.at), Some(at(200)));
        let got: Vec<_> = lineage
            .deployments(&window(0, 1000))
            .into_iter()
            .map(|dep| (dep.workload, dep.digest, dep.previous_digest))
            .collect();
        assert_eq!(
            got,
            vec![
                ("reg.example/api".to_string(), d('a'), None),
                ("reg.example/api".to_string(), d('b'), Some(d('a'))),
            ]
        );
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "a table of manifest shapes and what each yields")]
    fn extract_table() {
        let (a, b) = (d('a'), d('b'));
        let reference = |repo: &str, digest: &str| Found::Reference {
            repo: repo.into(),
            digest: digest.into(),
            container: None,
        };
        // (case, file text, found)
        let cases = [
            (
                "tag dropped",
                format!("image: reg.example/api:1.2@{a}\n"),
                vec![reference("reg.example/api", &a)],
            ),
            (
                "registry port kept",
                format!("image: reg:5000/api@{a}\n"),
                vec![reference("reg:5000/api", &a)],
            ),
            (
                "kustomize entry with newName",
                format!("images:\n- name: api\n  newName: reg.example/api\n  digest: {a}\n"),
                vec![Found::Override {
                    name: Some("api".into()),
                    new_name: Some("reg.example/api".into()),
                    digest: a.clone(),
                }],
            ),
            (
                "a container's tag is a version, of its workload",
                "kind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  containers:\n  - {name: app, image: reg.example/api:1.2}\n  - {name: side, image: reg.example/side}\n".into(),
                vec![
                    Found::Reference {
                        repo: "reg.example/api".into(),
                        digest: "reg.example/api:1.2".into(),
                        container: Some(Container {
                            workload: "shop/Deployment/api".into(),
                            name: "app".into(),
                        }),
                    },
                    Found::Reference {
                        repo: "reg.example/side".into(),
                        digest: "reg.example/side".into(),
                        container: Some(Container {
                            workload: "shop/Deployment/api".into(),
                            name: "side".into(),
                        }),
                    },
                ],
            ),
            (
                "a tag outside a container's image is not a version",
                "note: reg.example/api:1.2\n".into(),
                vec![],
            ),
            (
                "kustomize entry with newTag",
                "images:\n- name: api\n  newName: reg.example/api\n  newTag: \"1.3\"\n".into(),
                vec![Found::Override {
                    name: Some("api".into()),
                    new_name: Some("reg.example/api".into()),
                    digest: "reg.example/api:1.3".into(),
                }],
            ),
            (
                "a digest without an image is not an entry",
                format!("digest: {a}\n"),
                vec![],
            ),
            (
                "text that is not a reference",
                format!("note: built from {a}\n"),
                vec![],
            ),
            (
                "one bad document does not hide the next",
                format!("image: [x@{a}\n---\nimage: reg.example/web@{b}\n"),
                vec![reference("x", &a), reference("reg.example/web", &b)],
            ),
            (
                "a bad document keeps bare digests",
                format!("digest: {a}\nbad: [\n"),
                vec![Found::Bare(a.clone())],
            ),
            (
                "json",
                format!("{{\"image\": \"reg.example/api@{a}\"}}"),
                vec![reference("reg.example/api", &a)],
            ),
            (
                "hostile nesting is refused, its digests still found",
                format!("{}x@{a}", "[".repeat(10_000)),
                vec![reference("x", &a)],
            ),
        ];
        for (case, text, want) in cases {
            assert_eq!(extract(&text), want, "{case}");
        }
    }

    #[test]
    fn a_promoted_from_cycle_ends_the_chain() {
        let mut h = History::new();
        commit_set(&mut h, 100, "x", &[("dev", 'a')]);
        commit_set(&mut h, 200, "y", &[("staging", 'a')]);
        let envs = [
            env("dev", &["envs/dev"], Some("staging")),
            env("staging", &["envs/staging"], Some("dev")),
            env("production", &["envs/production"], Some("nowhere")),
        ];
        let lineage = walk(h.path(), &envs, 100).expect("walk");
        let s = |e: &str, t: i64| (e.to_string(), t);
        assert_eq!(
            times(&lineage.lineage("staging", &d('a'))),
            vec![s("dev", 100), s("staging", 200)]
        );
        // Staging declared it after dev did: not how it reached dev.
        assert_eq!(times(&lineage.lineage("dev", &d('a'))), vec![s("dev", 100)]);
        assert_eq!(times(&lineage.lineage("production", &d('a'))), vec![]);
    }

    #[test]
    fn depth_bounds_the_walk() {
        let mut h = History::new();
        commit_set(&mut h, 100, "a", &[("production", 'a')]);
        commit_set(&mut h, 200, "dev b", &[("dev", 'b')]);
        commit_set(&mut h, 300, "dev c", &[("dev", 'c')]);
        commit_set(&mut h, 400, "dev d", &[("dev", 'd')]);
        let lineage = walk(h.path(), &pipeline(), 2).expect("walk");
        // a has been there since before the window: its run starts at the oldest commit read.
        assert_eq!(lineage.declared_by("production", &d('a')).map(|d| d.at), Some(at(300)));
        // The oldest commit read is the baseline, not a deployment of everything it declares.
        let got: Vec<_> = lineage
            .deployments(&window(0, 1000))
            .into_iter()
            .map(|dep| dep.started_at.timestamp())
            .collect();
        assert_eq!(got, vec![400]);
        let empty = walk(h.path(), &pipeline(), 0).expect("walk");
        assert_eq!(empty.declared_by("production", &d('a')), None);
    }

    /// A change made on a branch reaches the environment when it is merged: one deployment, at
    /// the merge.
    #[test]
    fn a_merged_branch_deploys_once_at_the_merge() {
        let mut h = History::new();
        let base = commit_set(&mut h, 100, "a", &[("production", 'a')]);
        let mut branch = h.files.clone();
        let (path, text) = set("production", &d('b'));
        branch.insert(path, text.expect("text"));
        let feature = h.commit_tree(&[base], 200, "b on a branch", &branch);
        let main = h.commit(300, "docs", &[("README.md", Some("x".into()))]);
        branch.insert("README.md".into(), "x".into());
        let merge = h.commit_tree(&[main, feature], 400, "Merge branch", &branch);
        h.set_head(merge);
        let lineage = walk(h.path(), &pipeline(), 100).expect("walk");
        let got: Vec<_> = lineage
            .deployments(&window(150, 1000))
            .into_iter()
            .map(|dep| (dep.started_at.timestamp(), dep.digest, dep.previous_digest))
            .collect();
        assert_eq!(got, vec![(400, d('b'), Some(d('a')))]);
        assert_eq!(lineage.declared_by("production", &d('b')).map(|d| d.at), Some(at(400)));
    }

    /// A tag and a digest are compared by digest once the registry resolved the tag; until
    /// then (no registry, tag not found, registry down) the change is unjudged, and says why.
    #[test]
    fn a_tag_resolved_through_the_registry_is_compared_by_digest() {
        let mut h = History::new();
        let tag = "reg.example/api:1.1";
        commit_set(&mut h, 1000, "dev a", &[("dev", 'a')]);
        commit_set(&mut h, 2000, "staging a", &[("staging", 'a')]);
        h.commit(
            3000,
            "production 1.1",
            &[("envs/production/api.yaml", Some(deployment(tag)))],
        );
        let mut lineage = walk(h.path(), &pipeline(), 100).expect("walk");
        assert_eq!(lineage.tags(), BTreeSet::from([tag]));
        let production = |l: &Lineage| {
            let deployments = l.deployments(&window(2500, 4000));
            let [dep] = &deployments[..] else {
                panic!("one deployment: {deployments:?}")
            };
            (times(&dep.lineage), dep.lineage_unjudged.clone())
        };
        let s = |e: &str, t: i64| (e.to_string(), t);
        let cases = [
            (
                None,
                Some("a tag and a digest to compare, and no registry configured for reg.example/api".to_string()),
            ),
            (Some(Lookup::NotFound), Some(format!("{tag} not found in the registry"))),
            (
                Some(Lookup::Unavailable("connection refused".into())),
                Some(format!("registry unreachable for {tag}: connection refused")),
            ),
        ];
        for (answer, why) in cases {
            lineage.resolve_tags(answer.into_iter().map(|a| (tag.to_string(), a)).collect());
            assert_eq!(production(&lineage), (vec![], why));
        }
        lineage.resolve_tags(HashMap::from([(tag.to_string(), Lookup::Found(d('a')))]));
        assert_eq!(
            production(&lineage),
            (vec![s("dev", 1000), s("staging", 2000), s("production", 3000)], None)
        );
        // Another digest: comparable, and staging never declared it: a skipped stage.
        lineage.resolve_tags(HashMap::from([(tag.to_string(), Lookup::Found(d('b')))]));
        assert_eq!(production(&lineage), (vec![s("production", 3000)], None));
    }

    #[test]
    fn a_repository_without_commits_has_no_history() {
        let h = History::new();
        let lineage = walk(h.path(), &pipeline(), 100).expect("walk");
        assert!(lineage.deployments(&window(0, i64::from(i32::MAX))).is_empty());
    }
}
