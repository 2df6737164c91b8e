//! The stable `driftwatch.report/v1` JSON rendering: the [`Report`] as serde writes it.

use super::Report;

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// The same JSON on one line: one journal entry, one record for a log shipper.
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use crate::core::model::Severity;

    #[test]
    fn json_follows_the_schema() {
        let v: serde_json::Value = serde_json::from_str(&report(false, Severity::Critical).to_json()).unwrap();
        assert_eq!(v["schema"], "driftwatch.report/v1");
        assert_eq!(v["environments"][0]["status"], "ok");
        assert_eq!(v["environments"][0]["error"], serde_json::Value::Null);
        let f = &v["findings"][0];
        assert_eq!(f["type"], "digest-drift");
        assert_eq!(f["kind"], "Deployment");
        assert_eq!(f["running"][0]["pods"], 3);
        assert_eq!(
            v["summary"],
            serde_json::json!({"findings": 1, "critical": 1, "warning": 0, "info": 0, "errors": 0, "incomplete": 0, "ignored": 0})
        );
    }

    #[test]
    fn errors_are_a_list_and_error_stays_the_joined_line() {
        let mut r = report(true, Severity::Critical);
        r.add_error_to_all("ignore file .driftwatch-ignore.yaml: bad");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let env = &v["environments"][0];
        assert_eq!(
            env["error"],
            "cluster prod-eu1: unreachable; ignore file .driftwatch-ignore.yaml: bad"
        );
        assert_eq!(
            env["errors"],
            serde_json::json!([
                "cluster prod-eu1: unreachable",
                "ignore file .driftwatch-ignore.yaml: bad"
            ])
        );
        let ok: serde_json::Value = serde_json::from_str(&report(false, Severity::Critical).to_json()).unwrap();
        assert_eq!(ok["environments"][0]["errors"], serde_json::json!([]));
    }
}
