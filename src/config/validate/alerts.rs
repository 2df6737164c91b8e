//! `[state]` and `[alerts]`: where alert state is kept, delivery timeouts and retries, and the
//! channels' routing (`name`, `environments`, `min_severity`). Each channel's own keys are
//! validated by its module under [`crate::alerts::channels`].

use std::path::PathBuf;
use std::time::Duration;

use super::Validator;
use crate::alerts::channels::{ChannelKind, Routing, Section};
use crate::config::raw::{RawAlerts, RawState};
use crate::config::{AlertsConfig, ChannelConfig, ConfigError, DeliveryConfig, StateConfig};
use crate::core::model::Severity;

impl Validator<'_> {
    pub(super) fn state(&self, s: RawState) -> StateConfig {
        StateConfig {
            path: self.path(
                s.path
                    .unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/state.json")),
            ),
        }
    }

    pub(super) fn alerts(&self, mut a: RawAlerts, environments: &[String]) -> Result<AlertsConfig, ConfigError> {
        let delivery = DeliveryConfig {
            timeout: self.duration("alerts.timeout", a.timeout.take(), Duration::from_secs(10))?,
            max_attempts: match a.max_attempts {
                Some(0) => return Err(self.invalid("alerts.max_attempts", "must be at least 1")),
                Some(n) => n,
                None => 5,
            },
            backoff: self.duration("alerts.backoff", a.backoff.take(), Duration::from_secs(1))?,
            backoff_max: self.duration("alerts.backoff_max", a.backoff_max.take(), Duration::from_secs(30))?,
        };
        let mut list: Vec<ChannelConfig> = Vec::new();
        validate_channels(self, &mut a, |key, routing, kind| {
            let channel = self.channel(&key, routing, kind, &list, environments)?;
            list.push(channel);
            Ok(())
        })?;
        Ok(AlertsConfig {
            renotify_after: self.duration(
                "alerts.renotify_after",
                a.renotify_after,
                Duration::from_secs(24 * 3600),
            )?,
            send_resolved: a.send_resolved.unwrap_or(true),
            delivery,
            channels: list,
        })
    }

    /// A channel's routing: its name (`slack-1`, … unless named; unique), the environments
    /// routed to it (which must exist) and its lowest severity.
    fn channel(
        &self,
        key: &str,
        r: Routing,
        kind: ChannelKind,
        channels: &[ChannelConfig],
        environments: &[String],
    ) -> Result<ChannelConfig, ConfigError> {
        let index = channels.iter().filter(|c| c.kind.as_str() == kind.as_str()).count() + 1;
        let name = r.name.unwrap_or_else(|| format!("{}-{index}", kind.as_str()));
        if channels.iter().any(|c| c.name == name) {
            return Err(self.invalid(format!("{key}.name"), format!("channel name {name:?} is used twice")));
        }
        if let Some(unknown) = r.environments.iter().flatten().find(|e| !environments.contains(e)) {
            return Err(self.invalid(
                format!("{key}.environments"),
                format!("no environment is named {unknown:?}"),
            ));
        }
        let min_severity = self.severity(&format!("{key}.min_severity"), r.min_severity, Severity::Warning)?;
        Ok(ChannelConfig {
            name,
            environments: r.environments,
            min_severity,
            kind,
        })
    }
}

/// Every `[[alerts.<kind>]]` entry validated by its channel's own section, in the order of the
/// one channel list, so the raw `[alerts]` shape (config's) never reaches the channels.
macro_rules! define_validate {
    ($($key:ident: $variant:ident($settings:ty),)*) => {
        /// Validates every `[[alerts.<kind>]]` entry, kind by kind in the listed order, and
        /// hands each to `push` (which checks its routing) before the next is read, so the
        /// first error in that order is the one reported.
        fn validate_channels(
            v: &Validator<'_>,
            raw: &mut RawAlerts,
            mut push: impl FnMut(String, Routing, ChannelKind) -> Result<(), ConfigError>,
        ) -> Result<(), ConfigError> {
            $(
                for (i, entry) in std::mem::take(&mut raw.$key).into_iter().enumerate() {
                    let key = format!("alerts.{}[{i}]", stringify!($key));
                    let (routing, settings) = <$settings as Section>::validate(v, &key, entry)?;
                    push(key, routing, ChannelKind::$variant(settings))?;
                }
            )*
            Ok(())
        }
    };
}
crate::alerts::channels::channel_kinds!(define_validate);
