//! Tests of the `ember` binary as operators run it: OS processes of `ember worker`, `ember dlq`,
//! `ember demo`, `ember hubspot-app render`, `ember portal add`, `ember portal resync`,
//! `ember model fit` and the whole stack end to end, in one test binary.
//!
//! Run one family with a filter: `cargo test -p ember --test it worker_crash::`.

mod e2e_support;

mod demo;
mod e2e;
mod hubspot_app;
mod model_fit;
mod portal_cli;
mod portal_resync;
mod worker_bench;
mod worker_cli;
mod worker_crash;
mod worker_metrics;
mod writeback_processes;
