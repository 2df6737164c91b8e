//! DORA metrics (deployment frequency, lead time for changes, change failure rate, time to
//! restore) per environment and per workload, with their performance bands. Pure: the store
//! and git history hand it deployments and drift episodes.
//!
//! - [`model`]: what it reads. [`compute`]: the definitions, one function per figure.
//! - [`bands`]: the performance bands. [`render`]: text, Markdown and JSON.

pub mod bands;
pub mod compute;
pub mod model;
pub mod render;

pub use compute::{DORA_SCHEMA, DoraReport, Event, Figures, Options, compute};
pub use model::*;
pub use render::{render_explain, render_json, render_markdown, render_text};
