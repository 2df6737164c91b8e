//! The registry's caches. [`Memo`]: answers of one audit, each key asked once even when
//! environments ask concurrently (single flight). [`ManifestCache`]: manifests by digest, which
//! are content-addressed and so valid across audits; bounded, least recently used dropped.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::core::model::Manifest;

/// (`registry/repository`, reference).
pub type Key = (String, String);

/// Held while the one request for a key is under way.
pub type Flight = Arc<tokio::sync::Mutex<()>>;

/// Answers by (`registry/repository`, reference) for one audit, asked once each: concurrent
/// environments asking for the same key wait for the first request instead of repeating it.
pub struct Memo<V> {
    answers: Mutex<HashMap<Key, V>>,
    flights: Mutex<HashMap<Key, Flight>>,
}

impl<V: Clone> Memo<V> {
    pub fn new() -> Self {
        Self {
            answers: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get_or(&self, key: Key, ask: impl Future<Output = V>) -> V {
        let flight = self
            .flights
            .lock()
            .expect("memo lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let _one_at_a_time = flight.lock().await;
        if let Some(v) = self.answers.lock().expect("memo lock").get(&key) {
            return v.clone();
        }
        let v = ask.await;
        self.answers.lock().expect("memo lock").insert(key, v.clone());
        v
    }
}

impl<V: Clone> Default for Memo<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Manifests by (`registry/repository`, digest), owned by whoever runs audits and kept across
/// them (and across reloads): a digest's manifest never changes.
pub struct ManifestCache {
    entries: Mutex<LruCache<Key, Manifest>>,
}

impl ManifestCache {
    /// Image indexes of a few thousand images, a few KiB each at most.
    pub const DEFAULT_CAPACITY: usize = 4096;

    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Manifest> {
        self.entries.lock().expect("manifest cache").get(key).cloned()
    }

    pub fn put(&self, key: Key, manifest: Manifest) {
        self.entries.lock().expect("manifest cache").put(key, manifest);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("manifest cache").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ManifestCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Key {
        ("registry.example.com/shop/api".into(), format!("sha256:{n:064x}"))
    }

    #[test]
    fn manifest_cache_keeps_at_most_its_capacity() {
        let cache = ManifestCache::new(3);
        for n in 0..10 {
            cache.put(key(n), Manifest::Image);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&key(9)), Some(Manifest::Image));
        assert_eq!(cache.get(&key(0)), None);
    }

    #[test]
    fn manifest_cache_keeps_what_is_used() {
        let cache = ManifestCache::new(2);
        cache.put(key(0), Manifest::Image);
        cache.put(key(1), Manifest::Image);
        // Reading 0 makes 1 the least recently used: 2 pushes out 1.
        assert!(cache.get(&key(0)).is_some());
        cache.put(key(2), Manifest::Image);
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(1)).is_none());
    }

    #[tokio::test]
    async fn memo_asks_each_key_once() {
        let memo: Memo<u32> = Memo::new();
        let asked = std::sync::atomic::AtomicU32::new(0);
        let ask = || async {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            7
        };
        let (a, b) = tokio::join!(memo.get_or(key(1), ask()), memo.get_or(key(1), ask()));
        assert_eq!((a, b), (7, 7));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
