//! What happens with a report: the alert lifecycle (pure), delivery to the configured channels
//! through the store (which keeps the state), and the state file of earlier releases.

pub mod channels;
pub mod deliver;
pub mod lifecycle;
pub mod settle;
pub mod state_file;
