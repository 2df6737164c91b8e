//! Signature and provenance checks of running digests, at the edge: [`evidence`] reads what a
//! registry holds for a digest through the audit's registry client, the `signatures` crate
//! verifies each piece against a policy, [`crate::core::signatures::judge`] makes it one
//! verdict, and verified digests are kept in the store per (digest, policy hash), so that the
//! next audit asks the registry nothing for them. Negative verdicts are not kept: they are
//! checked again each audit (a signature pushed later counts at once, and they are findings
//! someone is looking at anyway).

pub mod evidence;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use chrono::Utc;
use tracing::{debug, warn};

use crate::config::{SignaturePolicyConfig, StoreConfig};
use crate::core::signatures::{Outcome, PolicyVerdict, SignatureFacts, Target, Verdict, judge};
use crate::sources::registry::Registry;
use crate::store::Store;
use evidence::Gathered;

/// Running digests by (`registry/repository`, digest).
pub type Targets = BTreeMap<(String, String), Target>;

/// What lasts across audits: the store verdicts are cached in (opened on first use; without
/// it, every audit verifies everything again).
pub struct SignatureChecks {
    store: StoreConfig,
    opened: tokio::sync::OnceCell<Option<Store>>,
}

impl SignatureChecks {
    pub fn new(store: &StoreConfig) -> Self {
        Self {
            store: store.clone(),
            opened: tokio::sync::OnceCell::new(),
        }
    }

    async fn store(&self) -> Option<&Store> {
        self.opened
            .get_or_init(|| async {
                Store::open(&self.store)
                    .await
                    .map_err(|e| warn!(error = %e, "signature verdicts are not cached: the store cannot be opened"))
                    .ok()
            })
            .await
            .as_ref()
    }

    /// The verdicts of `policies` (those applying to `environment`) over `targets`: cached
    /// ones from the store, the others verified from what the registry holds (each digest's
    /// evidence read once for all policies).
    pub async fn verdicts(
        &self,
        policies: &[&SignaturePolicyConfig],
        environment: &str,
        registry: Option<&Registry<'_>>,
        targets: &Targets,
        now: SystemTime,
    ) -> SignatureFacts {
        let mut cached: Vec<HashMap<(String, String), Vec<String>>> = Vec::new();
        for p in policies {
            cached.push(self.cached(p).await);
        }
        let covered = |p: &SignaturePolicyConfig, key: &(String, String)| p.covers(environment, &key.0);
        let needed: HashSet<&(String, String)> = targets
            .keys()
            .filter(|k| {
                policies
                    .iter()
                    .zip(&cached)
                    .any(|(p, c)| covered(p, k) && !c.contains_key(*k))
            })
            .collect();
        let gathered = gather_all(registry, targets, &needed).await;
        let mut facts = SignatureFacts::default();
        for (p, cached) in policies.iter().zip(cached) {
            let mut fresh = Vec::new();
            for key in targets.keys().filter(|k| covered(p, k)) {
                let verdict = match cached.get(key) {
                    Some(evidence) => Verdict::Signed {
                        evidence: evidence.clone(),
                    },
                    None => verdict(p, key, &targets[key], gathered.get(key), now),
                };
                if let (Verdict::Signed { evidence }, false) = (&verdict, cached.contains_key(key)) {
                    fresh.push((key.clone(), evidence.clone()));
                }
                facts.verdicts.entry(key.clone()).or_default().push(PolicyVerdict {
                    policy: p.name.clone(),
                    severity: p.severity,
                    verdict,
                });
            }
            self.record(p, &fresh).await;
        }
        facts
    }

    /// What the store says `policy` verified (nothing when the store cannot be read).
    async fn cached(&self, policy: &SignaturePolicyConfig) -> HashMap<(String, String), Vec<String>> {
        let Some(store) = self.store().await else {
            return HashMap::new();
        };
        match store.verified_digests(&policy.hash).await {
            Ok(rows) => rows.into_iter().collect(),
            Err(e) => {
                warn!(policy = %policy.name, error = %e, "cached signature verdicts cannot be read");
                HashMap::new()
            }
        }
    }

    async fn record(&self, policy: &SignaturePolicyConfig, fresh: &[crate::store::verdicts::Verified]) {
        if fresh.is_empty() {
            return;
        }
        if let Some(store) = self.store().await
            && let Err(e) = store
                .record_verified(&policy.name, &policy.hash, fresh, Utc::now())
                .await
        {
            warn!(policy = %policy.name, error = %e, "signature verdicts not cached");
        }
    }
}

/// The evidence of each `needed` target, read concurrently (the registry client bounds the
/// requests per registry).
async fn gather_all(
    registry: Option<&Registry<'_>>,
    targets: &Targets,
    needed: &HashSet<&(String, String)>,
) -> HashMap<(String, String), Gathered> {
    let Some(registry) = registry else {
        return HashMap::new();
    };
    let lookups = targets
        .iter()
        .filter(|(k, _)| needed.contains(k))
        .map(|(key, t)| async move {
            let subjects = t.subjects(&key.1);
            (key.clone(), evidence::gather(registry, &t.image, &subjects).await)
        });
    futures::future::join_all(lookups).await.into_iter().collect()
}

/// One policy's verdict on one target from what was gathered for it.
pub fn verdict(
    policy: &SignaturePolicyConfig,
    key: &(String, String),
    target: &Target,
    gathered: Option<&Gathered>,
    now: SystemTime,
) -> Verdict {
    let Some(gathered) = gathered else {
        return Verdict::Unverifiable {
            reason: format!("no [[registries]] entry to read the signatures of {} from", key.0),
        };
    };
    let subjects = target.subjects(&key.1);
    let outcomes: Vec<Outcome> = gathered
        .found
        .iter()
        .map(|f| {
            (
                f.origin.clone(),
                signatures::verify(&f.evidence, &subjects, &policy.policy, now),
            )
        })
        .collect();
    let verdict = judge(
        &outcomes,
        policy.policy.provenance.is_some(),
        gathered.unavailable.as_deref(),
    );
    debug!(policy = %policy.name, image = %key.0, digest = %key.1, evidence = outcomes.len(), ?verdict, "signature verdict");
    verdict
}
