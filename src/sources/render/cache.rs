//! The render cache: an overlay whose inputs did not change is not rendered again, neither across
//! audits of the daemon (in memory) nor across `driftwatch --once` runs started by a timer (on
//! disk).
//!
//! An entry is stored under a [`key`] the render layer derives from what is not a file (renderer
//! version, engine, overlay path, repository identity, external kustomize version) and records
//! every file the render looked at with its identity then ([`Entry::deps`]). A lookup re-asks
//! [`Files::identity`] for each of them, so validity follows the current tree without rendering:
//! an edited, added or removed input is a miss, whichever process stored the entry.
//!
//! On disk: `<dir>/v1/<first 2 hex of key>/<key>.json`, written atomically (a uniquely named temp
//! file in the same directory, then a rename), so readers and concurrent writers only ever see
//! whole entries. Anything unreadable is discarded and rendered again; a disk that cannot be
//! written never fails an audit, the cache then works in memory only.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::Files;

/// The on-disk format's directory: a change to [`Stored`] gets a new one, so an older driftwatch
/// sharing the directory never misreads a newer entry (and vice versa).
const LAYOUT: &str = "v1";
/// Temp files are named `.render-<random>.tmp`: never mistaken for an entry, and recognisable
/// by [`RenderCache::prune`] when a crashed writer left one behind.
const TEMP_PREFIX: &str = ".render-";
const TEMP_SUFFIX: &str = ".tmp";
/// A temp file this old belongs to no running write (a write takes milliseconds).
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One overlay's render and what it depended on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Every repository-relative path the render looked at, with its identity then (`None`: it
    /// was looked for and absent), as in the built-in renderer's `Build::deps`.
    pub deps: BTreeMap<String, Option<String>>,
    /// Which renderer produced `docs`: `"builtin"`, or `"external: <why>"`.
    pub renderer: String,
    /// The rendered documents, in order.
    pub docs: Vec<serde_json::Value>,
    /// For a Helm release: each document's template (`# Source:`), beside `docs`; empty for
    /// kustomize, whose entries stay as they were written before releases existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
}

/// One file on disk. The key is repeated inside so that a file copied or renamed to another
/// key's name is recognised as corrupt instead of answering for the wrong overlay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    key: String,
    deps: BTreeMap<String, Option<String>>,
    renderer: String,
    docs: Vec<serde_json::Value>,
    #[serde(default)]
    templates: Vec<String>,
}

/// [`Stored`], borrowed for writing.
#[derive(Serialize)]
struct StoredRef<'a> {
    key: &'a str,
    deps: &'a BTreeMap<String, Option<String>>,
    renderer: &'a str,
    docs: &'a [serde_json::Value],
    /// Only Helm entries have it: a kustomize entry is written exactly as before.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    templates: &'a [String],
}

/// Counts since the cache was made, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered (from memory or disk).
    pub hits: u64,
    /// Of `hits`, those read from disk (a previous process, or evicted from memory).
    pub disk_hits: u64,
    /// Lookups not answered: the caller renders.
    pub misses: u64,
    /// Of `misses`, those where an entry existed but an input had changed since.
    pub stale: u64,
    /// Disk entries discarded as unreadable (bad JSON, wrong shape, wrong key, truncated).
    pub corrupt: u64,
    /// Stores (or prune deletions) the disk refused; the entry was kept in memory.
    pub write_errors: u64,
    /// Disk entries deleted by [`RenderCache::prune`] to stay under its size bound.
    pub pruned: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    corrupt: AtomicU64,
    write_errors: AtomicU64,
    pruned: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Renders by key, in a bounded memory LRU and optionally a bounded directory. Shared by the
/// concurrent audits of all environments (`Send + Sync`).
pub struct RenderCache {
    // A std `Mutex`: it is held only to get or put an `Arc` (never across file IO, dependency
    // validation or an `.await`), so an async mutex would buy nothing; and `LruCache::get`
    // reorders the list, so even a read needs exclusive access (a `RwLock` would not help).
    // `None` when `memory_entries` is 0.
    memory: Option<Mutex<LruCache<String, Arc<Entry>>>>,
    /// `<dir>/v1`, or `None` for memory only.
    disk: Option<PathBuf>,
    max_disk_bytes: u64,
    /// Set by the first disk write that failed: a read-only or full disk is said once per cache,
    /// not once per overlay and audit.
    disk_warned: AtomicBool,
    counters: Counters,
}

impl RenderCache {
    /// A cache keeping at most `memory_entries` renders in memory and, with `disk`, every stored
    /// render under that directory (created when first written), bounded to `max_disk_bytes` by
    /// [`prune`](Self::prune).
    pub fn new(disk: Option<PathBuf>, max_disk_bytes: u64, memory_entries: usize) -> Self {
        Self {
            memory: NonZeroUsize::new(memory_entries).map(|n| Mutex::new(LruCache::new(n))),
            disk: disk.map(|d| d.join(LAYOUT)),
            max_disk_bytes,
            disk_warned: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// The render stored under `key` if every file it depended on still has the identity it had
    /// then in `files`; from memory, else from disk (which another process may have written).
    pub fn lookup(&self, key: &str, files: &dyn Files) -> Option<Arc<Entry>> {
        let remembered = self.memory().and_then(|mut m| m.get(key).cloned());
        if let Some(entry) = &remembered {
            if is_current(entry, files) {
                // Used by the daemon is used: [`prune`](Self::prune) must not evict it first.
                self.touch(key);
                bump(&self.counters.hits);
                return Some(entry.clone());
            }
            // Stale: forget it, unless a concurrent store replaced it meanwhile.
            if let Some(mut m) = self.memory()
                && m.peek(key).is_some_and(|e| Arc::ptr_eq(e, entry))
            {
                m.pop(key);
            }
        }
        // Another process (a `--once` run) may have stored a render of the current inputs.
        let mut stale = remembered.is_some();
        if let Some(entry) = self.read_disk(key) {
            // The same deps as the stale memory entry are stale too: no need to ask again.
            let known_stale = remembered.as_ref().is_some_and(|r| r.deps == entry.deps);
            if !known_stale && is_current(&entry, files) {
                self.touch(key);
                let entry = Arc::new(entry);
                if let Some(mut m) = self.memory() {
                    m.put(key.to_string(), entry.clone());
                }
                bump(&self.counters.hits);
                bump(&self.counters.disk_hits);
                return Some(entry);
            }
            stale = true;
        }
        if stale {
            bump(&self.counters.stale);
        }
        bump(&self.counters.misses);
        None
    }

    /// Keeps `entry` under `key` in memory and on disk, replacing what was there. A disk that
    /// refuses the write is warned about (once) and otherwise ignored.
    pub fn store(&self, key: &str, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        if let Some(mut m) = self.memory() {
            m.put(key.to_string(), entry.clone());
        }
        if let Some(path) = self.path(key) {
            let stored = StoredRef {
                key,
                deps: &entry.deps,
                renderer: &entry.renderer,
                docs: &entry.docs,
                templates: &entry.templates,
            };
            if let Err(e) = write_atomically(&path, &stored) {
                bump(&self.counters.write_errors);
                self.warn_unwritable(&path, &e);
            }
        }
        entry
    }

    /// [`lookup`](Self::lookup) of a render that holds secrets: from memory only. A disk entry
    /// under `key` (an earlier driftwatch wrote every render) is removed, never read.
    pub fn lookup_in_memory(&self, key: &str, files: &dyn Files) -> Option<Arc<Entry>> {
        if let Some(path) = self.path(key) {
            self.remove(&path);
        }
        let remembered = self.memory().and_then(|mut m| m.get(key).cloned());
        match remembered {
            Some(entry) if is_current(&entry, files) => {
                bump(&self.counters.hits);
                Some(entry)
            }
            Some(entry) => {
                if let Some(mut m) = self.memory()
                    && m.peek(key).is_some_and(|e| Arc::ptr_eq(e, &entry))
                {
                    m.pop(key);
                }
                bump(&self.counters.stale);
                bump(&self.counters.misses);
                None
            }
            None => {
                bump(&self.counters.misses);
                None
            }
        }
    }

    /// Keeps `entry` under `key` in memory only, never on disk: a render that holds secrets
    /// (values read from a Kubernetes Secret) is reused within this process and rendered again
    /// by the next. A disk entry left under `key` is removed: the disk never answers for it.
    pub fn store_in_memory(&self, key: &str, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        if let Some(mut m) = self.memory() {
            m.put(key.to_string(), entry.clone());
        }
        if let Some(path) = self.path(key) {
            self.remove(&path);
        }
        entry
    }

    /// Deletes the least recently used disk entries (by mtime: written or last hit) until their
    /// total size is at most `max_disk_bytes`, and temp files a crashed writer left behind.
    /// Safe to run while other processes use the directory: they only see an entry vanish,
    /// which is a miss.
    pub fn prune(&self) {
        let Some(root) = &self.disk else { return };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        let Ok(shards) = fs::read_dir(root) else { return };
        for shard in shards.flatten() {
            let Ok(names) = fs::read_dir(shard.path()) else {
                continue;
            };
            for file in names.flatten() {
                let Ok(meta) = file.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let name = file.file_name();
                let name = name.to_string_lossy();
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
                    if now.duration_since(modified).is_ok_and(|age| age > STALE_TEMP) {
                        self.remove(&file.path());
                    }
                } else if name.ends_with(".json") {
                    entries.push((modified, meta.len(), file.path()));
                }
            }
        }
        // Oldest first; equal times in path order, so a prune is reproducible.
        entries.sort();
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        for (_, size, path) in entries {
            if total <= self.max_disk_bytes {
                break;
            }
            if self.remove(&path) {
                bump(&self.counters.pruned);
            }
            // Counted as gone even when the delete failed: a disk that refuses deletes would
            // otherwise have every entry tried, and is warned about once anyway.
            total -= size;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            disk_hits: get(&c.disk_hits),
            misses: get(&c.misses),
            stale: get(&c.stale),
            corrupt: get(&c.corrupt),
            write_errors: get(&c.write_errors),
            pruned: get(&c.pruned),
        }
    }

    fn memory(&self) -> Option<MutexGuard<'_, LruCache<String, Arc<Entry>>>> {
        // A panic elsewhere while holding the lock cannot leave the LRU half-updated in a way
        // that matters here: every value is a whole `Arc`.
        self.memory
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Where `key` lives on disk. Only keys as [`key`] makes them (lowercase hex) name files:
    /// anything else could climb out of the directory, so it is cached in memory only.
    fn path(&self, key: &str) -> Option<PathBuf> {
        let root = self.disk.as_ref()?;
        if key.len() < 3 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(root.join(&key[..2]).join(format!("{key}.json")))
    }

    /// The entry stored on disk for `key`, if there is a readable one; a corrupt one is removed.
    fn read_disk(&self, key: &str) -> Option<Entry> {
        let path = self.path(key)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "render cache: entry unreadable");
                return None;
            }
        };
        let problem = match serde_json::from_slice::<Stored>(&bytes) {
            Ok(stored) if stored.key == key => {
                return Some(Entry {
                    deps: stored.deps,
                    renderer: stored.renderer,
                    docs: stored.docs,
                    templates: stored.templates,
                });
            }
            Ok(stored) => format!("it holds key {}", stored.key),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            file = %path.display(),
            problem = %problem,
            "render cache: discarding a corrupt entry; the overlay is rendered again"
        );
        bump(&self.counters.corrupt);
        self.remove(&path);
        None
    }

    /// Marks `key`'s disk entry as just used, for [`prune`](Self::prune)'s least-recently-used
    /// order. Best effort: an entry that cannot be touched (gone, read-only disk) is only pruned
    /// earlier than it could have been.
    fn touch(&self, key: &str) {
        if let Some(path) = self.path(key) {
            let _ = fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(SystemTime::now()));
        }
    }

    /// Deletes `path`; whether it was deleted by this call.
    fn remove(&self, path: &Path) -> bool {
        match fs::remove_file(path) {
            Ok(()) => true,
            // Another process got there first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                bump(&self.counters.write_errors);
                self.warn_unwritable(path, &e);
                false
            }
        }
    }

    fn warn_unwritable(&self, path: &Path, error: &io::Error) {
        if !self.disk_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                dir = %self.disk.as_deref().unwrap_or(path).display(),
                file = %path.display(),
                error = %error,
                "render cache: the cache directory is not writable; renders are cached in memory only (said once)"
            );
        }
    }
}

/// Whether every file `entry` depended on still has the identity it had.
fn is_current(entry: &Entry, files: &dyn Files) -> bool {
    entry.deps.iter().all(|(path, then)| files.identity(path) == *then)
}

/// Writes `value` as JSON to a uniquely named temp file beside `path`, then renames it over
/// `path`: a reader sees the old file or the new one, never part of one, and of two processes
/// storing the same key the last rename wins with a whole entry. No fsync: after a power loss a
/// truncated entry is merely discarded as corrupt and rendered again.
fn write_atomically(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let dir = path.parent().expect("an entry's path has a shard directory");
    fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    {
        let mut out = io::BufWriter::new(temp.as_file_mut());
        serde_json::to_writer(&mut out, value)?;
        out.flush()?;
    }
    // Dropping an unpersisted temp file deletes it, so a failed write leaves nothing behind.
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A stable key for `parts`: the SHA-256 of each part's length (8 bytes, little-endian) followed
/// by its bytes, in lowercase hex. The length prefixes make it unambiguous (`["ab", "c"]` and
/// `["a", "bc"]` differ); the value must not change between versions, or every disk entry is
/// rendered again.
pub fn key(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::process::{Command, Stdio};

    use serde_json::json;

    use super::*;
    use crate::sources::render::files::{DirFiles, Kind, ReadError};

    /// A repository whose file identities the test sets directly.
    #[derive(Default)]
    struct MapFiles(Mutex<HashMap<String, String>>);

    impl MapFiles {
        fn with(files: &[(&str, &str)]) -> Self {
            let map = files.iter().map(|(p, id)| (p.to_string(), id.to_string())).collect();
            Self(Mutex::new(map))
        }

        fn set(&self, path: &str, identity: Option<&str>) {
            let mut map = self.0.lock().unwrap();
            match identity {
                Some(id) => map.insert(path.to_string(), id.to_string()),
                None => map.remove(path),
            };
        }
    }

    impl Files for MapFiles {
        fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
            Err(ReadError::new(
                path,
                std::io::Error::other("the cache must not read files"),
            ))
        }

        fn kind(&self, path: &str) -> Option<Kind> {
            self.0.lock().unwrap().get(path).map(|_| Kind::File)
        }

        fn identity(&self, path: &str) -> Option<String> {
            self.0.lock().unwrap().get(path).cloned()
        }
    }

    /// An overlay `apps/api/overlays/prod` over `apps/api/base`, which looked for an optional
    /// `kustomization.yml` beside its `kustomization.yaml` and found none.
    fn overlay_files() -> MapFiles {
        MapFiles::with(&[
            ("apps/api/overlays/prod/kustomization.yaml", "blob-1"),
            ("apps/api/base/kustomization.yaml", "blob-2"),
            ("apps/api/base/deployment.yaml", "blob-3"),
        ])
    }

    fn overlay_entry(image: &str) -> Entry {
        let mut deps: BTreeMap<String, Option<String>> = overlay_files()
            .0
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|(p, id)| (p, Some(id)))
            .collect();
        deps.insert("apps/api/overlays/prod/kustomization.yml".into(), None);
        Entry {
            deps,
            renderer: "builtin".into(),
            docs: vec![json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "prod"},
                "spec": {"template": {"spec": {"containers": [{"name": "api", "image": image}]}}},
            })],
            templates: Vec::new(),
        }
    }

    fn overlay_key() -> String {
        key(&["renderer 1", "builtin", "apps/api/overlays/prod", "repo:/srv/gitops"])
    }

    fn entry_file(dir: &Path, key: &str) -> PathBuf {
        dir.join(LAYOUT).join(&key[..2]).join(format!("{key}.json"))
    }

    /// Log lines written while `f` runs on this thread.
    fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl tracing_subscriber::fmt::MakeWriter<'_> for Buf {
            type Writer = Buf;
            fn make_writer(&self) -> Buf {
                self.clone()
            }
        }
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (out, text)
    }

    #[test]
    fn key_is_stable_and_unambiguous() {
        // Expected value from Python: sha256 over struct.pack('<Q', len) + bytes for each part.
        assert_eq!(
            key(&["builtin", "apps/api"]),
            "0009ec39bc36babff928ab2a3ce4b93f9b214540a2c024a877c82eb7a53adfde"
        );
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_ne!(key(&[]), key(&[""]));
        assert_ne!(key(&["a", ""]), key(&["a"]));
    }

    #[test]
    fn a_lookup_hits_only_while_every_dependency_is_unchanged() {
        // (what happened, the file whose identity changed and its new one, still a hit)
        let cases = [
            ("nothing changed", None, true),
            (
                "an unrelated file changed",
                Some(("apps/web/kustomization.yaml", Some("blob-9"))),
                true,
            ),
            (
                "the base's deployment was edited",
                Some(("apps/api/base/deployment.yaml", Some("blob-3b"))),
                false,
            ),
            (
                "a file looked for and absent now exists",
                Some(("apps/api/overlays/prod/kustomization.yml", Some("blob-4"))),
                false,
            ),
            (
                "a file it read was deleted",
                Some(("apps/api/base/deployment.yaml", None)),
                false,
            ),
        ];
        for (what, change, hit) in cases {
            let dir = tempfile::tempdir().unwrap();
            let files = overlay_files();
            let cache = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
            cache.store(&overlay_key(), overlay_entry("api:1"));
            if let Some((path, identity)) = change {
                files.set(path, identity);
            }
            // The daemon's next audit (memory), and the next `--once` run (disk).
            let from_memory = cache.lookup(&overlay_key(), &files);
            let fresh = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
            let from_disk = fresh.lookup(&overlay_key(), &files);
            for (source, got) in [("memory", from_memory), ("disk", from_disk)] {
                assert_eq!(got.is_some(), hit, "{what} ({source})");
                if let Some(got) = got {
                    assert_eq!(*got, overlay_entry("api:1"), "{what} ({source})");
                }
            }
            assert_eq!(cache.stats().stale, u64::from(!hit), "{what}");
        }
    }

    #[test]
    fn an_edit_on_disk_is_a_miss_and_the_new_render_a_hit() {
        let repo = tempfile::tempdir().unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let deploy = repo.path().join("deployment.yaml");
        fs::write(&deploy, "image: api:1\n").unwrap();
        let files = DirFiles::new(repo.path());
        let render = |image: &str| Entry {
            deps: BTreeMap::from([
                ("deployment.yaml".to_string(), files.identity("deployment.yaml")),
                ("kustomization.yaml".to_string(), files.identity("kustomization.yaml")),
            ]),
            renderer: "builtin".into(),
            docs: vec![json!({"image": image})],
            templates: Vec::new(),
        };
        let cache = RenderCache::new(Some(cache_dir.path().into()), u64::MAX, 16);
        let k = key(&["."]);
        cache.store(&k, render("api:1"));
        assert_eq!(cache.lookup(&k, &files).unwrap().docs, [json!({"image": "api:1"})]);

        fs::write(&deploy, "image: api:2\n").unwrap();
        assert!(
            cache.lookup(&k, &files).is_none(),
            "an edited input must be rendered again"
        );
        cache.store(&k, render("api:2"));
        assert_eq!(cache.lookup(&k, &files).unwrap().docs, [json!({"image": "api:2"})]);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.stale), (2, 1, 1));
    }

    #[test]
    fn a_new_process_hits_from_disk_then_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let files = overlay_files();
        RenderCache::new(Some(dir.path().into()), u64::MAX, 16).store(&overlay_key(), overlay_entry("api:1"));

        let next_run = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        assert_eq!(
            *next_run.lookup(&overlay_key(), &files).unwrap(),
            overlay_entry("api:1")
        );
        assert_eq!(
            *next_run.lookup(&overlay_key(), &files).unwrap(),
            overlay_entry("api:1")
        );
        let stats = next_run.stats();
        assert_eq!((stats.hits, stats.disk_hits, stats.misses), (2, 1, 0));
        assert!(next_run.lookup(&key(&["another overlay"]), &files).is_none());
        assert_eq!(next_run.stats().misses, 1);
    }

    #[test]
    fn memory_holds_at_most_its_capacity_and_keeps_what_is_used() {
        let files = overlay_files();
        let cache = RenderCache::new(None, 0, 2);
        let (a, b, c) = (key(&["a"]), key(&["b"]), key(&["c"]));
        cache.store(&a, overlay_entry("a"));
        cache.store(&b, overlay_entry("b"));
        assert!(cache.lookup(&a, &files).is_some());
        cache.store(&c, overlay_entry("c"));
        assert!(cache.lookup(&b, &files).is_none(), "b was the least recently used");
        assert!(cache.lookup(&a, &files).is_some());
        assert!(cache.lookup(&c, &files).is_some());
    }

    #[test]
    fn a_corrupt_entry_is_discarded_counted_and_rewritten() {
        let good = serde_json::to_vec(&StoredRef {
            key: &overlay_key(),
            deps: &overlay_entry("api:1").deps,
            renderer: "builtin",
            docs: &overlay_entry("api:1").docs,
            templates: &[],
        })
        .unwrap();
        let other_key = serde_json::to_vec(&StoredRef {
            key: &key(&["another overlay"]),
            deps: &overlay_entry("api:1").deps,
            renderer: "builtin",
            docs: &overlay_entry("api:1").docs,
            templates: &[],
        })
        .unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("bad JSON", b"{not json".to_vec()),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("empty", Vec::new()),
            (
                "deps is a list",
                br#"{"key":"k","deps":[1,2],"renderer":"builtin","docs":[]}"#.to_vec(),
            ),
            ("docs missing", {
                let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
                v.as_object_mut().unwrap().remove("docs");
                serde_json::to_vec(&v).unwrap()
            }),
            ("another key's entry", other_key),
        ];
        for (what, bytes) in cases {
            let dir = tempfile::tempdir().unwrap();
            let files = overlay_files();
            let file = entry_file(dir.path(), &overlay_key());
            RenderCache::new(Some(dir.path().into()), u64::MAX, 16).store(&overlay_key(), overlay_entry("api:1"));
            fs::write(&file, bytes).unwrap();

            let cache = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
            let (got, logs) = capture_warnings(|| cache.lookup(&overlay_key(), &files));
            assert!(got.is_none(), "{what}: rendered again");
            assert!(
                logs.contains("corrupt") && logs.contains(&file.display().to_string()),
                "{what}: {logs}"
            );
            assert!(!file.exists(), "{what}: removed");
            assert_eq!(cache.stats().corrupt, 1, "{what}");

            cache.store(&overlay_key(), overlay_entry("api:1"));
            let next_run = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
            assert!(next_run.lookup(&overlay_key(), &files).is_some(), "{what}: rewritten");
            assert_eq!(next_run.stats().corrupt, 0, "{what}");
        }
    }

    #[test]
    fn an_unwritable_disk_falls_back_to_memory_and_is_warned_about_once() {
        // Below a regular file, no directory can be created, even by root (which ignores
        // read-only permissions, and these tests may run as root).
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("not-a-dir"), "").unwrap();
        let unwritable = dir.path().join("not-a-dir").join("cache");
        let files = overlay_files();
        let cache = RenderCache::new(Some(unwritable), u64::MAX, 16);
        let keys: Vec<String> = (0..3).map(|n| key(&[&n.to_string()])).collect();
        let ((), logs) = capture_warnings(|| {
            for k in &keys {
                assert!(cache.lookup(k, &files).is_none());
                cache.store(k, overlay_entry("api:1"));
                assert_eq!(*cache.lookup(k, &files).unwrap(), overlay_entry("api:1"));
            }
            cache.prune();
        });
        assert_eq!(logs.matches("not writable").count(), 1, "{logs}");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.write_errors), (3, 3, 3));
    }

    #[test]
    fn a_render_holding_secrets_is_kept_in_memory_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = overlay_files();
        let cache = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        let k = overlay_key();
        // An entry an older driftwatch wrote for the same key is removed, not left to answer.
        cache.store(&k, overlay_entry("api:1"));
        cache.store_in_memory(&k, overlay_entry("api:s3cr3t"));
        assert_eq!(
            cache.lookup(&k, &files).unwrap().docs,
            overlay_entry("api:s3cr3t").docs,
            "reused within the process"
        );
        assert!(!entry_file(dir.path(), &k).exists());
        let next_run = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        assert!(
            next_run.lookup(&k, &files).is_none(),
            "rendered again by the next process"
        );
        let on_disk: Vec<_> = walkdir(dir.path());
        assert!(on_disk.is_empty(), "nothing on disk: {on_disk:?}");
        // A lookup from memory only never reads the disk, and removes what an earlier version
        // wrote there.
        cache.store(&k, overlay_entry("api:1"));
        let next_run = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        assert!(next_run.lookup_in_memory(&k, &files).is_none());
        assert!(!entry_file(dir.path(), &k).exists());
        next_run.store_in_memory(&k, overlay_entry("api:s3cr3t"));
        assert_eq!(
            next_run.lookup_in_memory(&k, &files).unwrap().docs,
            overlay_entry("api:s3cr3t").docs
        );
    }

    /// Every file below `dir`.
    fn walkdir(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walkdir(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn a_key_that_is_not_hex_stays_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let files = overlay_files();
        let cache = RenderCache::new(Some(dir.path().join("cache")), u64::MAX, 16);
        cache.store("../../escape", overlay_entry("api:1"));
        assert!(cache.lookup("../../escape", &files).is_some());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written anywhere");
    }

    #[test]
    fn prune_keeps_the_most_recently_used_entries_under_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let files = overlay_files();
        let cache = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        let keys: Vec<String> = (0..4).map(|n| key(&[&n.to_string()])).collect();
        let now = SystemTime::now();
        let mut size = 0;
        for (age, k) in (1..=4).rev().zip(&keys) {
            // Stored an hour apart, oldest first (set explicitly: file times are too coarse to
            // order writes made microseconds apart).
            cache.store(k, overlay_entry("api:1"));
            let file = fs::File::options().write(true).open(entry_file(dir.path(), k)).unwrap();
            file.set_modified(now - Duration::from_secs(3600 * age)).unwrap();
            size = file.metadata().unwrap().len();
        }
        // The oldest is used by the next run (a disk hit), the second oldest by the daemon that
        // stored it (a memory hit); then only three entries fit.
        let next_run = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        assert!(next_run.lookup(&keys[0], &files).is_some());
        assert!(cache.lookup(&keys[1], &files).is_some());
        let stale_temp = entry_file(dir.path(), &keys[0]).with_file_name(".render-crashed.tmp");
        let fresh_temp = entry_file(dir.path(), &keys[0]).with_file_name(".render-writing.tmp");
        for temp in [&stale_temp, &fresh_temp] {
            fs::write(temp, "{").unwrap();
        }
        fs::File::options()
            .write(true)
            .open(&stale_temp)
            .unwrap()
            .set_modified(now - Duration::from_secs(7200))
            .unwrap();

        let bounded = RenderCache::new(Some(dir.path().into()), 3 * size, 16);
        bounded.prune();
        let kept: Vec<bool> = keys.iter().map(|k| entry_file(dir.path(), k).exists()).collect();
        assert_eq!(kept, [true, true, false, true], "the just used and the newest stay");
        assert_eq!(bounded.stats().pruned, 1);
        assert!(!stale_temp.exists(), "a crashed writer's temp file is removed");
        assert!(fresh_temp.exists(), "a write in progress is left alone");

        RenderCache::new(Some(dir.path().into()), 0, 16).prune();
        assert!(keys.iter().all(|k| !entry_file(dir.path(), k).exists()));
    }

    const WORKER_DIR: &str = "DRIFTWATCH_RENDER_CACHE_WORKER_DIR";
    const WORKER_ID: &str = "DRIFTWATCH_RENDER_CACHE_WORKER_ID";
    const PAD: usize = 8192;

    /// Stores and looks up the same few keys `rounds` times through a memory-less cache over
    /// `dir` (every lookup reads the disk), checking that every entry seen is whole.
    fn hammer(dir: &Path, writer: &str, rounds: usize) {
        let files = overlay_files();
        let cache = RenderCache::new(Some(dir.into()), u64::MAX, 0);
        let keys: Vec<String> = (0..4).map(|n| key(&[&n.to_string()])).collect();
        for round in 0..rounds {
            for k in &keys {
                if let Some(seen) = cache.lookup(k, &files) {
                    assert_eq!(seen.deps, overlay_entry("").deps);
                    let doc = &seen.docs[0];
                    assert_eq!(
                        doc["pad"].as_str().map(str::len),
                        Some(PAD),
                        "{writer} saw a partial entry"
                    );
                    assert_eq!(doc["key"], json!(k), "{writer} saw another key's entry");
                }
                let mut entry = overlay_entry("");
                entry.docs = vec![json!({"writer": writer, "round": round, "key": k, "pad": "x".repeat(PAD)})];
                cache.store(k, entry);
            }
        }
        let stats = cache.stats();
        assert_eq!((stats.corrupt, stats.write_errors), (0, 0), "{writer}");
        assert!(stats.hits > 0, "{writer} never read an entry back");
    }

    #[test]
    fn concurrent_threads_never_see_a_partial_entry() {
        let dir = tempfile::tempdir().unwrap();
        let shared = RenderCache::new(Some(dir.path().into()), u64::MAX, 16);
        let files = overlay_files();
        std::thread::scope(|s| {
            for writer in ["thread-a", "thread-b"] {
                s.spawn(|| hammer(dir.path(), writer, 200));
            }
            // Another process pruning meanwhile: readers only see entries vanish.
            s.spawn(|| {
                for _ in 0..50 {
                    RenderCache::new(Some(dir.path().into()), 2 * PAD as u64, 0).prune();
                }
            });
            // And one cache shared by threads, as the daemon's environments share it.
            s.spawn(|| {
                for _ in 0..400 {
                    shared.store(&overlay_key(), overlay_entry("api:1"));
                    assert!(shared.lookup(&overlay_key(), &files).is_some());
                }
            });
        });
        assert_eq!(shared.stats().corrupt, 0);
    }

    /// Run by `concurrent_processes_never_see_a_partial_entry` in child processes.
    #[test]
    #[ignore = "a child process of concurrent_processes_never_see_a_partial_entry"]
    fn disk_worker() {
        let (Ok(dir), Ok(id)) = (std::env::var(WORKER_DIR), std::env::var(WORKER_ID)) else {
            return;
        };
        hammer(Path::new(&dir), &id, 200);
    }

    #[test]
    fn concurrent_processes_never_see_a_partial_entry() {
        let dir = tempfile::tempdir().unwrap();
        let module = module_path!().split_once("::").unwrap().1;
        let children: Vec<_> = (0..2)
            .map(|n| {
                Command::new(std::env::current_exe().unwrap())
                    .args([&format!("{module}::disk_worker"), "--exact", "--ignored", "--nocapture"])
                    .env(WORKER_DIR, dir.path())
                    .env(WORKER_ID, format!("process-{n}"))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        hammer(dir.path(), "parent", 200);
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
            // The filter matched the worker: it ran, it did not silently match nothing.
            assert!(stdout.contains("1 passed"), "{stdout}");
        }
    }
}
