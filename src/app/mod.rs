//! Wiring, never logic: the command line, one audit, the daemon with its schedule, leader
//! election, HTTP endpoint (with the git push webhooks' handler, `[server.auth]` and the
//! status pages) and metrics.

pub mod audit;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod daemon;
pub mod describe;
pub mod dora;
pub mod history;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod schedule;
pub mod status;
pub mod web;
