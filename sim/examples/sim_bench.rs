//! Throughput of the simulator's CRM paths, so it is never the bottleneck of a load test.
//!
//! `cargo run --release -p hubspot-sim --example sim_bench -- [seconds] [concurrency]`
//!
//! Starts the simulator in-process (2 server workers) with one private-app portal whose burst
//! limit is lifted (the limiter still runs on every call), then drives a CRM mix from
//! `concurrency` client tasks: 70% single GET, 20% batch read of 10, 10% batch update of 10.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hubspot_sim::{AppType, PortalSpec, SimConfig, SimServer};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let conc: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let sim = SimServer::start(SimConfig {
        workers: 2,
        ..SimConfig::default()
    })
    .await?;
    let portal = sim.control().create_portal(PortalSpec {
        app_type: AppType::Private {
            burst: u32::MAX,
            daily: u64::MAX,
        },
        contacts: 1_000,
        ..PortalSpec::default()
    });
    let token = Arc::new(portal.private_token.clone().expect("private token"));
    let ids = Arc::new(sim.control().contact_ids(portal.id));
    let base = Arc::new(sim.base_url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for worker in 0..conc {
        let (client, token, ids, base) = (client.clone(), token.clone(), ids.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut i = worker;
            while Instant::now() < deadline {
                i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let pick = |k: usize| ids[(i >> 7).wrapping_add(k) % ids.len()];
                let started = Instant::now();
                let req = match i % 10 {
                    0 => client.post(format!("{base}/crm/objects/2026-09/contacts/batch/update")).json(&json!({
                        "inputs": (0..10).map(|k| json!({"id": pick(k).to_string(), "properties": {"jobtitle": format!("t{k}")}})).collect::<Vec<_>>()
                    })),
                    1 | 2 => client.post(format!("{base}/crm/objects/2026-09/contacts/batch/read")).json(&json!({
                        "properties": ["email", "jobtitle"],
                        "inputs": (0..10).map(|k| json!({"id": pick(k).to_string()})).collect::<Vec<_>>()
                    })),
                    _ => client.get(format!("{base}/crm/objects/2026-09/contacts/{}?properties=email,jobtitle,numemployees", pick(0))),
                };
                match req.bearer_auth(token.as_str()).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    _ => failed += 1,
                }
                let _ = hist.record(started.elapsed().as_micros() as u64);
            }
            (ok, failed, hist)
        }));
    }
    let started = Instant::now();
    let mut total = hdrhistogram::Histogram::<u64>::new(3)?;
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f, h) = t.await?;
        ok += o;
        failed += f;
        total.add(h)?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs as f64);
    println!(
        "{ok} ok, {failed} failed in {elapsed:.1} s: {:.0} req/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (concurrency {conc})",
        ok as f64 / elapsed,
        total.value_at_quantile(0.5) as f64 / 1000.0,
        total.value_at_quantile(0.99) as f64 / 1000.0,
        total.max() as f64 / 1000.0,
    );
    println!(
        "calls logged by the simulator: {}",
        sim.control().call_count()
    );
    sim.shutdown().await;
    Ok(())
}
