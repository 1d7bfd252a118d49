//! `ember loadgen`: sends correctly signed (v3) app webhook batches to a running api and reports
//! requests/s, events/s and latency percentiles, plus the api's CPU time and peak memory when
//! given its pid. Every request's events are unique, so nothing is deduplicated away.
//!
//! Closed loop by default (each connection sends its next request when the previous answers:
//! the throughput ceiling); with `--rate` it paces requests open-loop (latency at a given load).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ember_core::signature::v3_signature;
use hdrhistogram::Histogram;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// The api's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The public base URL the api signs against (EMBER_PUBLIC_BASE_URL); defaults to --url.
    #[arg(long)]
    public_base_url: Option<String>,
    /// The app's client secret the api verifies with.
    #[arg(long, env = "EMBER_HUBSPOT__CLIENT_SECRET", hide_env_values = true)]
    secret: SecretString,
    /// Events per request (HubSpot sends 1 to 100).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds to send before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Target requests per second in total (open loop); unlimited when absent.
    #[arg(long)]
    rate: Option<u64>,
    /// Requests are spread over portal ids 1..=N (each request carries one portal's events).
    #[arg(long, default_value_t = 10)]
    portals: i64,
    /// The api's process id, to report its CPU use and peak memory.
    #[arg(long)]
    api_pid: Option<u32>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct TaskStats {
    latency_us: Option<Histogram<u64>>,
    requests: u64,
    failures: std::collections::BTreeMap<String, u64>,
}

pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.concurrency == 0 || args.portals < 1 {
        bail!("--batch, --concurrency and --portals must be at least 1");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    let target = format!("{}/webhooks/hubspot", args.url.trim_end_matches('/'));
    let signed_uri = format!(
        "{}/webhooks/hubspot",
        args.public_base_url
            .as_deref()
            .unwrap_or(&args.url)
            .trim_end_matches('/')
    );
    let shared = Arc::new(Shared {
        client,
        target,
        signed_uri,
        secret: args.secret.clone(),
        batch: args.batch,
        portals: args.portals,
        next_event_id: AtomicI64::new(chrono::Utc::now().timestamp_millis() * 1000),
    });

    let warmup = Duration::from_secs(args.warmup);
    let measure = Duration::from_secs(args.duration);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + measure;
    let per_task_interval = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.concurrency as f64 / rate.max(1) as f64));

    let cpu_before = args.api_pid.map(api_cpu_seconds).transpose()?;
    let mut peak_rss_kib = 0u64;
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            worker(shared, measure_from, stop_at, per_task_interval).await
        }));
    }
    // Sample the api's memory while the load runs.
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(pid) = args.api_pid {
            peak_rss_kib = peak_rss_kib.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
        }
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut requests = 0u64;
    let mut failures = std::collections::BTreeMap::new();
    for task in tasks {
        let stats = task.await?;
        if let Some(h) = stats.latency_us {
            latency.add(h)?;
        }
        requests += stats.requests;
        for (k, v) in stats.failures {
            *failures.entry(k).or_insert(0) += v;
        }
    }
    let cpu = match (args.api_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(api_cpu_seconds(pid)? - before),
        _ => None,
    };
    let hwm = args.api_pid.and_then(|pid| proc_status_kib(pid, "VmHWM:"));
    let secs = measure.as_secs_f64();
    let ok = latency.len();
    let summary = json!({
        "batch": args.batch,
        "concurrency": args.concurrency,
        "target_rate": args.rate,
        "seconds": secs,
        "requests_ok": ok,
        "requests_total": requests,
        "failures": failures,
        "requests_per_sec": ok as f64 / secs,
        "events_per_sec": (ok as f64 * args.batch as f64) / secs,
        "latency_ms": {
            "p50": latency.value_at_quantile(0.50) as f64 / 1000.0,
            "p99": latency.value_at_quantile(0.99) as f64 / 1000.0,
            "p999": latency.value_at_quantile(0.999) as f64 / 1000.0,
            "max": latency.max() as f64 / 1000.0,
        },
        "api_cpu_percent_of_one_core": cpu.map(|c| 100.0 * c / secs),
        "api_peak_rss_mib_during_run": args.api_pid.map(|_| peak_rss_kib as f64 / 1024.0),
        "api_peak_rss_mib_since_start": hwm.map(|k| k as f64 / 1024.0),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    if ok == 0 {
        bail!("no request succeeded: {failures:?}");
    }
    Ok(())
}

struct Shared {
    client: reqwest::Client,
    target: String,
    signed_uri: String,
    secret: SecretString,
    batch: usize,
    portals: i64,
    next_event_id: AtomicI64,
}

async fn worker(
    shared: Arc<Shared>,
    measure_from: Instant,
    stop_at: Instant,
    interval: Option<Duration>,
) -> TaskStats {
    let mut stats = TaskStats {
        latency_us: Histogram::new(3).ok(),
        ..TaskStats::default()
    };
    let mut ticker = interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let body = batch_body(&shared);
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let signature = v3_signature(
            shared.secret.expose_secret(),
            "POST",
            &shared.signed_uri,
            &body,
            &timestamp,
        );
        let sent = Instant::now();
        let result = shared
            .client
            .post(&shared.target)
            .header("content-type", "application/json")
            .header("x-hubspot-signature-v3", signature)
            .header("x-hubspot-request-timestamp", timestamp)
            .body(body)
            .send()
            .await;
        let elapsed = sent.elapsed();
        if sent < measure_from {
            continue;
        }
        stats.requests += 1;
        match result {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                if let Some(h) = stats.latency_us.as_mut() {
                    let _ = h.record(elapsed.as_micros() as u64);
                }
            }
            Ok(response) => {
                *stats
                    .failures
                    .entry(response.status().as_u16().to_string())
                    .or_insert(0) += 1
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                *stats.failures.entry(kind.to_owned()).or_insert(0) += 1;
            }
        }
    }
    stats
}

/// A HubSpot-shaped batch of property changes with fresh, unique event ids, all of one portal
/// (HubSpot batches per installing account; portals take turns across requests). Written with
/// `write!` rather than through `serde_json::Value`, so the generator stays cheap next to the api
/// it measures on the same cores.
fn batch_body(shared: &Shared) -> Vec<u8> {
    use std::fmt::Write as _;
    let first = shared
        .next_event_id
        .fetch_add(shared.batch as i64, Ordering::Relaxed);
    let now = chrono::Utc::now().timestamp_millis();
    let portal = 1 + (first / shared.batch as i64).rem_euclid(shared.portals);
    let mut body = String::with_capacity(shared.batch * 330 + 2);
    body.push('[');
    for i in 0..shared.batch as i64 {
        let id = first + i;
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"eventId":{id},"subscriptionId":2001,"portalId":{portal},"appId":54321,"occurredAt":{now},"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":{object},"propertyName":"lifecyclestage","propertyValue":"marketingqualifiedlead","changeSource":"CRM_UI","sourceId":"userId:76023669"}}"#,
            object = 1000 + id.rem_euclid(50_000),
        );
    }
    body.push(']');
    body.into_bytes()
}

/// The process's user + system CPU time in seconds, from /proc (Linux clock ticks of 1/100 s).
fn api_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid}"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(ticks as f64 / 100.0)
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
