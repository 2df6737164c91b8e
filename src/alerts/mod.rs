//! What happens with a report: the alert lifecycle (pure), its persisted state, and delivery to
//! the configured channels.

pub mod channels;
pub mod deliver;
pub mod lifecycle;
pub mod settle;
pub mod state_file;
