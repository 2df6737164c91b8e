//! TEMPORARY stub until the computation lands.
use super::*;
pub const DORA_SCHEMA: &str = "driftwatch.dora/v1";
pub struct Options { pub window: Window, pub source: Source, pub failure_window: std::time::Duration, pub environments: Vec<String> }
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoraReport { pub schema: &'static str }
pub fn compute(_d: &[Deployment], _e: &[Episode], _o: &Options) -> DoraReport { DoraReport { schema: DORA_SCHEMA } }
pub fn render_text(_r: &DoraReport) -> String { String::new() }
pub fn render_markdown(_r: &DoraReport) -> String { String::new() }
pub fn render_json(r: &DoraReport) -> String { serde_json::to_string(r).unwrap() }
