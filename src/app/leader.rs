//! Leader election between replicas through a `coordination.k8s.io/v1` Lease: only the leader
//! audits and alerts; when it dies, a follower takes over once the lease has expired. Writes use
//! the lease's `resourceVersion`, so two replicas never both win a round. The decision is
//! [`decide`] (pure); [`Elector`] does the API calls.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::HaConfig;
use crate::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election: cannot build a Kubernetes client: {0}")]
    Client(String),
    #[error("leader election: lease {namespace}/{name}: {reason}")]
    Api {
        namespace: String,
        name: String,
        reason: String,
    },
}

/// What the Lease says, in the terms the decision needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: Option<String>,
    pub renewed: Option<DateTime<Utc>>,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or its holder stopped renewing: take it over.
    TakeOver,
    /// Someone else holds a live lease.
    Follow { holder: String },
}

pub fn decide(lease: Option<&LeaseView>, me: &str, now: DateTime<Utc>) -> LeaseAction {
    let Some(lease) = lease else { return LeaseAction::Create };
    match (&lease.holder, lease.renewed) {
        (Some(h), _) if h == me => LeaseAction::Renew,
        (Some(h), Some(renewed)) if !h.is_empty() => {
            let expires = renewed + chrono::Duration::from_std(lease.duration).unwrap_or_default();
            if now >= expires {
                LeaseAction::TakeOver
            } else {
                LeaseAction::Follow { holder: h.clone() }
            }
        }
        _ => LeaseAction::TakeOver,
    }
}

fn to_micro(t: DateTime<Utc>) -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros()).expect("a time within jiff's range"))
}

fn from_micro(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

fn view(lease: &Lease, default_duration: Duration) -> LeaseView {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseView {
        holder: spec.holder_identity,
        renewed: spec.renew_time.as_ref().and_then(from_micro),
        duration: spec
            .lease_duration_seconds
            .map_or(default_duration, |s| Duration::from_secs(s.max(0) as u64)),
    }
}

pub struct Elector {
    api: Api<Lease>,
    cfg: HaConfig,
    /// The leader's HTTP address as its Lease says, seen by the last round.
    leader_address: std::sync::Mutex<Option<String>>,
}

impl Elector {
    pub async fn new(cfg: &HaConfig) -> Result<Self, LeaderError> {
        let err = |e: &dyn std::error::Error| LeaderError::Client(error_chain(e));
        let config = match &cfg.kubeconfig {
            None => kube::Config::incluster().map_err(|e| err(&e))?,
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| err(&e))?;
                let options = kube::config::KubeConfigOptions {
                    context: cfg.context.clone(),
                    ..Default::default()
                };
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| err(&e))?
            }
        };
        let client = kube::Client::try_from(config).map_err(|e| err(&e))?;
        Ok(Self {
            api: Api::namespaced(client, &cfg.lease_namespace),
            cfg: cfg.clone(),
            leader_address: std::sync::Mutex::new(None),
        })
    }

    fn api_err(&self, e: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.cfg.lease_namespace.clone(),
            name: self.cfg.lease_name.clone(),
            reason: error_chain(&e),
        }
    }

    fn spec(&self, now: DateTime<Utc>, acquired: Option<DateTime<Utc>>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_duration.as_secs().max(1) as i32),
            acquire_time: Some(to_micro(acquired.unwrap_or(now))),
            renew_time: Some(to_micro(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// The annotation on the Lease naming where the leader serves HTTP (`host:port`).
    pub const ADDRESS_ANNOTATION: &'static str = "driftwatch.io/address";

    /// Where the leader serves its HTTP endpoint, as its Lease said at the last round (`None`
    /// while this replica leads, or when the leader did not say).
    pub fn leader_address(&self) -> Option<String> {
        self.leader_address.lock().expect("leader address").clone()
    }

    /// The Lease's metadata with this replica's address (when it has one) as the leader's.
    fn advertise(&self, meta: &mut ObjectMeta) {
        let annotations = meta.annotations.get_or_insert_with(Default::default);
        match &self.cfg.advertise {
            Some(addr) => annotations.insert(Self::ADDRESS_ANNOTATION.to_string(), addr.clone()),
            None => annotations.remove(Self::ADDRESS_ANNOTATION),
        };
    }

    /// One election round at `now`: returns whether this replica leads.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<bool, LeaderError> {
        let name = &self.cfg.lease_name;
        let current = self.api.get_opt(name).await.map_err(|e| self.api_err(e))?;
        *self.leader_address.lock().expect("leader address") = current
            .as_ref()
            .filter(|l| l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) != Some(self.cfg.identity.as_str()))
            .and_then(|l| l.metadata.annotations.as_ref()?.get(Self::ADDRESS_ANNOTATION).cloned());
        let action = decide(
            current.as_ref().map(|l| view(l, self.cfg.lease_duration)).as_ref(),
            &self.cfg.identity,
            now,
        );
        let (mut lease, create) = match (&action, current) {
            (LeaseAction::Follow { .. }, _) => return Ok(false),
            (LeaseAction::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(now, None, 0)),
                };
                (lease, true)
            }
            (LeaseAction::Renew, Some(mut lease)) => {
                let spec = lease.spec.clone().unwrap_or_default();
                let acquired = spec.acquire_time.as_ref().and_then(from_micro);
                lease.spec = Some(self.spec(now, acquired, spec.lease_transitions.unwrap_or(0)));
                (lease, false)
            }
            (LeaseAction::TakeOver, Some(mut lease)) => {
                let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0) + 1;
                lease.spec = Some(self.spec(now, None, transitions));
                (lease, false)
            }
        };
        self.advertise(&mut lease.metadata);
        // `replace` sends the resourceVersion read above: if another replica wrote in between,
        // the API answers 409 and this round is lost, not shared.
        let result = if create {
            self.api.create(&PostParams::default(), &lease).await
        } else {
            self.api.replace(name, &PostParams::default(), &lease).await
        };
        match result {
            Ok(_) => {
                if action == LeaseAction::TakeOver {
                    info!(identity = %self.cfg.identity, "took over the leader lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.api_err(e)),
        }
    }

    /// Gives the lease up (on shutdown), so a follower takes over at once instead of after
    /// the lease duration.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.lease_name).await else {
            return;
        };
        let holds = lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.cfg.identity.as_str());
        if !holds {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
        }
        if let Err(e) = self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
            .await
        {
            warn!(error = %error_chain(&e), "could not release the leader lease; a follower takes over when it expires");
        }
    }

    /// Runs election rounds every `renew_interval` until `stop`, publishing leadership on
    /// `leader`. A leader that cannot reach the API steps down once its lease would have
    /// expired, since another replica may have taken over by then.
    /// `address` gets where the leader serves HTTP after every round (for the followers' pages).
    pub async fn run(
        self,
        clock: Clock,
        leader: watch::Sender<bool>,
        address: watch::Sender<Option<String>>,
        stop: CancellationToken,
    ) {
        let mut last_won: Option<DateTime<Utc>> = None;
        loop {
            let now = clock.now();
            let leads = match self.step(now).await {
                Ok(won) => {
                    last_won = won.then_some(now);
                    won
                }
                Err(e) => {
                    warn!(error = %e, "leader election round failed");
                    let grace = chrono::Duration::from_std(self.cfg.lease_duration).unwrap_or_default();
                    last_won.is_some_and(|t| now < t + grace)
                }
            };
            leader.send_if_modified(|l| std::mem::replace(l, leads) != leads);
            let leader_at = self.leader_address();
            address.send_if_modified(|a| std::mem::replace(a, leader_at.clone()) != leader_at);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.cfg.renew_interval) => {}
            }
        }
        if *leader.borrow() {
            leader.send_replace(false);
            self.release().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn decisions() {
        let lease = |holder: Option<&str>, renewed: Option<i64>| LeaseView {
            holder: holder.map(str::to_string),
            renewed: renewed.map(t),
            duration: Duration::from_secs(15),
        };
        let cases = [
            ("no lease", None, 0, LeaseAction::Create),
            ("ours", Some(lease(Some("a"), Some(0))), 100, LeaseAction::Renew),
            (
                "theirs and live",
                Some(lease(Some("b"), Some(0))),
                14,
                LeaseAction::Follow { holder: "b".into() },
            ),
            (
                "theirs and expired",
                Some(lease(Some("b"), Some(0))),
                15,
                LeaseAction::TakeOver,
            ),
            ("released", Some(lease(None, None)), 0, LeaseAction::TakeOver),
            ("empty holder", Some(lease(Some(""), Some(0))), 0, LeaseAction::TakeOver),
        ];
        for (name, l, now, want) in cases {
            assert_eq!(decide(l.as_ref(), "a", t(now)), want, "{name}");
        }
    }

    #[test]
    fn micro_time_round_trips() {
        let now = Utc.timestamp_micros(1_800_000_000_123_456).unwrap();
        assert_eq!(from_micro(&to_micro(now)), Some(now));
    }
}
