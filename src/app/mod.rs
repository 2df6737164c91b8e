//! The command line and the service: one audit, the daemon (an event loop over small parts), its
//! schedule, leader election, the HTTP endpoint (status pages, git push webhooks, `[server.auth]`)
//! and metrics, and what follows an audit (delivery, history, DORA). Mostly wiring of the layers
//! below; the logic here is the service's own, with no other user: credential checks
//! ([`auth`]), fire times ([`schedule`]), readiness ([`status`]). Pure logic that another layer
//! could use belongs in `core`.

pub mod audit;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod deliver;
pub mod describe;
pub mod discover;
pub mod dora;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod probes;
pub mod record;
pub mod release_inputs;
pub mod schedule;
pub mod status;
pub mod status_api;
pub mod verify;
pub mod web;
