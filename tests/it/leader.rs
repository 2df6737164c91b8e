//! Leader election rounds through the real kube client against the Kubernetes API served by
//! the suite: create, renew, follow, expiry, takeover, release. Times are given explicitly, so
//! no test waits for a lease to expire.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use driftwatch::app::leader::Elector;
use driftwatch::config::HaConfig;
use support::kube::FakeKube;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

async fn elector(kube: &FakeKube, dir: &std::path::Path, identity: &str) -> Elector {
    let cfg = HaConfig {
        lease_name: "driftwatch".into(),
        lease_namespace: "ops".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_interval: Duration::from_secs(5),
        kubeconfig: Some(kube.kubeconfig(dir, "ctx")),
        context: None,
        advertise: None,
    };
    Elector::new(&cfg).await.unwrap()
}

#[tokio::test]
async fn create_renew_follow_expire_take_over_release() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(vec![]);
    let a = elector(&kube, dir.path(), "a").await;
    let b = elector(&kube, dir.path(), "b").await;
    let holder = || {
        kube.lease("ops", "driftwatch")
            .map(|l| l["spec"]["holderIdentity"].clone())
    };

    assert!(a.step(t(0)).await.unwrap(), "no lease: a creates it and leads");
    assert_eq!(holder(), Some("a".into()));
    assert!(!b.step(t(1)).await.unwrap(), "a's lease is live: b follows");
    assert!(a.step(t(5)).await.unwrap(), "a renews");
    assert_eq!(
        kube.lease("ops", "driftwatch").unwrap()["spec"]["renewTime"],
        "2027-01-15T08:00:05.000000Z"
    );
    assert!(
        !b.step(t(19)).await.unwrap(),
        "renewed at 5, expires at 20: b still follows"
    );
    assert!(
        b.step(t(20)).await.unwrap(),
        "a stopped renewing: b takes over at expiry"
    );
    let lease = kube.lease("ops", "driftwatch").unwrap();
    assert_eq!(
        (
            lease["spec"]["holderIdentity"].as_str(),
            lease["spec"]["leaseTransitions"].as_i64()
        ),
        (Some("b"), Some(1))
    );
    assert!(!a.step(t(21)).await.unwrap(), "a comes back: it follows b");

    b.release().await;
    assert_eq!(holder(), Some(serde_json::Value::Null), "released on shutdown");
    assert!(
        a.step(t(22)).await.unwrap(),
        "a released lease is taken at once, without waiting for expiry"
    );
}
