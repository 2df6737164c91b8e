//! The crate's rules, one test each, on evidence made by `signatures::testing` (keys, a
//! Fulcio-style CA, a Rekor-style log) and, where present, real public-good vectors.

mod attestation;
mod bundle;
mod common;
mod cost;
mod key;
mod keyless;
mod malformed;
mod public_vectors;
mod timestamp;
