//! Benchmark (ignored by default): contacts written per second into one portal of
//! `hubspot-sim` over 60 s, as a fraction of the ceiling the limit allows (110 calls × 100
//! contacts per 10 s = 1,100 contacts/s). Results go in BENCHMARKS.md, "Write-back".
//!
//! `cargo test -p ember-tests --release --test it writeback_bench:: -- --ignored --nocapture`
//! (`WRITEBACK_BENCH_SECS` changes the duration).

use crate::writeback_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ember_tests::{TestDb, init, unique_name};
use hubspot_sim::{PortalSpec, SimConfig, SimServer};
use writeback_support::writeback::Crm;
use writeback_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: 60 s; run with --ignored"]
async fn writeback_throughput_against_the_ceiling() {
    init();
    let secs: u64 = std::env::var("WRITEBACK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let contacts = (secs as usize + 10) * 1_150;
    let db = TestDb::new().await.unwrap();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let t = Instant::now();
    let info = sim.control().create_portal(PortalSpec {
        contacts,
        ..Default::default()
    });
    let install = sim.control().install(info.id).unwrap();
    let portal = db.add_portal(info.id as i64).await.unwrap();
    let tokens = HashMap::from([(info.id as i64, install.access_token)]);
    let prefix = unique_name("wbb");
    let p = Process::start(&sim, &db.url, &prefix, &tokens, 1, sending_at_once())
        .await
        .unwrap();
    p.crm.provision(portal).await.unwrap();
    let mut ids = sim.control().contact_ids(info.id);
    ids.sort_unstable();
    fill_outbox(&db.pool, portal, &ids, 1).await.unwrap();
    println!("setup: {contacts} contacts in {:?}", t.elapsed());
    // A fresh HubSpot window.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    sim.control().clear_calls();

    let before = pending(&db.pool, portal).await;
    let (stop, task) = p.spawn();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.send(()).ok();
    task.await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let written = before - pending(&db.pool, portal).await;
    let calls = sim.control().calls_for(info.id);
    let rate = written as f64 / elapsed;
    println!(
        "write-back: {written} contacts in {elapsed:.1} s = {rate:.0} contacts/s = {:.1}% of 1,100/s; \
         {} calls ({} batch/update), max {} in any rolling 10 s, {} 429s, pending left {}",
        100.0 * rate / 1_100.0,
        calls.len(),
        calls.iter().filter(|c| c.endpoint == BATCH_UPDATE).count(),
        max_in_rolling_window(&calls),
        calls.iter().filter(|c| c.status == 429).count(),
        pending(&db.pool, portal).await,
    );
    assert!(max_in_rolling_window(&calls) <= 110);
    p.gate.settled().await;
    p.limiter.delete_all_keys().await.ok();
    sim.shutdown().await;
}
