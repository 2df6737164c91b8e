//! DORA metrics (deployment frequency, lead time for changes, change failure rate, time to
//! restore) per environment and per workload, with their performance bands. Pure: the store
//! and git history hand it deployments and drift episodes.

pub mod model;

pub use model::*;
mod stub;
pub use stub::*;
