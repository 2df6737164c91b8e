//! DORA performance bands, with the thresholds of the 2023 Accelerate State of DevOps report.
//! Its low and medium lead-time ranges overlap ("between one week and one month" for both);
//! here low is a month or more. Bands are taken from the medians.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elite => "elite",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// Deployments per day: elite daily or more (on demand), high weekly or more, medium monthly
/// (30 days) or more, low otherwise (no deployment at all included).
pub fn deployment_frequency(per_day: f64) -> Band {
    if per_day >= 1.0 {
        Band::Elite
    } else if per_day >= 1.0 / 7.0 {
        Band::High
    } else if per_day >= 1.0 / 30.0 {
        Band::Medium
    } else {
        Band::Low
    }
}

/// Median lead time: elite under a day, high under a week, medium under 30 days.
pub fn lead_time(seconds: f64) -> Band {
    below(seconds, [DAY, 7.0 * DAY, 30.0 * DAY])
}

/// Change failure rate: elite at most 5%, high at most 10%, medium at most 15%.
pub fn change_failure_rate(rate: f64) -> Band {
    if rate <= 0.05 {
        Band::Elite
    } else if rate <= 0.10 {
        Band::High
    } else if rate <= 0.15 {
        Band::Medium
    } else {
        Band::Low
    }
}

/// Median time to restore: elite under an hour, high under a day, medium under a week.
pub fn time_to_restore(seconds: f64) -> Band {
    below(seconds, [HOUR, DAY, 7.0 * DAY])
}

fn below(v: f64, [elite, high, medium]: [f64; 3]) -> Band {
    if v < elite {
        Band::Elite
    } else if v < high {
        Band::High
    } else if v < medium {
        Band::Medium
    } else {
        Band::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_fall_on_the_better_side_where_the_report_says_at_least_or_at_most() {
        let cases = [
            (
                "exactly one deployment a day is elite",
                deployment_frequency(1.0),
                Band::Elite,
            ),
            ("just under a day is high", deployment_frequency(0.99), Band::High),
            ("exactly weekly is high", deployment_frequency(1.0 / 7.0), Band::High),
            ("monthly is medium", deployment_frequency(1.0 / 30.0), Band::Medium),
            ("nothing deployed is low", deployment_frequency(0.0), Band::Low),
            ("lead time just under a day is elite", lead_time(DAY - 1.0), Band::Elite),
            ("lead time of exactly a day is high", lead_time(DAY), Band::High),
            ("two days is high", lead_time(2.0 * DAY), Band::High),
            ("two weeks is medium", lead_time(14.0 * DAY), Band::Medium),
            ("a month or more is low", lead_time(30.0 * DAY), Band::Low),
            ("exactly 5% is elite", change_failure_rate(0.05), Band::Elite),
            ("8.3% is high", change_failure_rate(0.083), Band::High),
            ("15% is medium", change_failure_rate(0.15), Band::Medium),
            ("a half is low", change_failure_rate(0.5), Band::Low),
            ("restored in 30 minutes is elite", time_to_restore(1800.0), Band::Elite),
            ("an hour and a half is high", time_to_restore(5400.0), Band::High),
            ("two days is medium", time_to_restore(2.0 * DAY), Band::Medium),
            ("a week is low", time_to_restore(7.0 * DAY), Band::Low),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }
}
