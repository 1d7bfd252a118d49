//! The summary after the drain: one row per portal, the probes' latency, and each portal's top
//! five leads with the reasons Ember wrote for their scores.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

use super::install::InstalledPortal;
use super::observe::{Observer, Snapshot};
use super::system::System;
use super::traffic::{Counts, Probe};

/// Leads shown per portal.
const TOP_LEADS: i64 = 5;

/// What the summary is made of.
pub struct Report<'a> {
    pub snapshot: &'a Snapshot,
    /// Unique accepted events recorded as processed, per portal.
    pub processed: &'a BTreeMap<u64, i64>,
    pub probes: &'a [Probe],
    pub observer: &'a Observer,
    pub traffic: &'a Counts,
    pub duration: Duration,
}

/// Prints the per-portal table and the run's totals.
pub fn print(report: &Report<'_>) {
    let snapshot = report.snapshot;
    println!();
    println!(
        "Summary: {} s of traffic into {}",
        report.duration.as_secs(),
        counted(snapshot.portals.len(), "portal")
    );
    println!(
        "{:<10} {:>8} {:>8} {:>6} {:>9} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7}",
        "portal",
        "events",
        "unique",
        "dups",
        "processed",
        "scored",
        "wb-calls",
        "written",
        "429s",
        "p50-ms",
        "p99-ms"
    );
    let mut all_latencies = Vec::new();
    for figures in &snapshot.portals {
        let latencies = latencies(report, Some(figures.portal));
        all_latencies.extend(&latencies);
        println!(
            "{:<10} {:>8} {:>8} {:>6} {:>9} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7}",
            figures.portal,
            figures.events,
            figures.unique,
            figures.duplicates(),
            report.processed.get(&figures.portal).copied().unwrap_or(0),
            figures.scored,
            figures.writeback_calls,
            figures.written,
            figures.rate_limited,
            percentile(&latencies, 0.50).map_or("-".into(), |v| v.to_string()),
            percentile(&latencies, 0.99).map_or("-".into(), |v| v.to_string()),
        );
    }
    all_latencies.sort_unstable();
    let written = report
        .probes
        .iter()
        .filter(|p| p.written_ms.is_some())
        .count();
    println!(
        "events: webhook events Ember accepted (2xx), duplicate deliveries included; unique: by \
         Ember's dedupe key; processed: unique events Ember recorded as processed; written: \
         contacts whose score HubSpot acknowledged."
    );
    match (
        percentile(&all_latencies, 0.50),
        percentile(&all_latencies, 0.99),
    ) {
        (Some(p50), Some(p99)) => println!(
            "Latency, webhook accepted → score in HubSpot: p50 {p50} ms, p99 {p99} ms over {} \
             probe contacts ({written} of {} probes written).",
            all_latencies.len(),
            report.probes.len()
        ),
        _ => println!(
            "Latency: no probe contact was written back ({} probes).",
            report.probes.len()
        ),
    }
    let t = report.traffic;
    let calls: u64 = snapshot.portals.iter().map(|p| p.hubspot_calls).sum();
    let limited: u64 = snapshot.portals.iter().map(|p| p.rate_limited).sum();
    let duplicates: u64 = snapshot.portals.iter().map(|p| p.duplicates()).sum();
    let unique: u64 = snapshot.portals.iter().map(|p| p.unique).sum();
    let reads: u64 = snapshot.portals.iter().map(|p| p.context_reads).sum();
    println!(
        "Traffic: {} engagement actions, {} merges, {} deletions, {} restores; HubSpot \
         delivered {duplicates} events twice and some batches out of order; the workers dropped \
         {} duplicates; {calls} calls to HubSpot, {limited} answered 429; {} dead letters.",
        t.actions, t.merges, t.deletions, t.restores, snapshot.dedupe_drops, snapshot.dead_letters
    );
    if unique > 0 {
        println!(
            "Context: {reads} batch reads for {unique} unique events ({:.4} HubSpot calls per event).",
            reads as f64 / unique as f64
        );
    }
}

/// `n noun`, with the noun in the plural unless `n` is 1 ("1 portal", "3 portals").
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Acceptance → HubSpot latencies (ms) of the written probes of one portal (or all).
fn latencies(report: &Report<'_>, portal: Option<u64>) -> Vec<i64> {
    let mut out: Vec<i64> = report
        .probes
        .iter()
        .filter(|p| portal.is_none_or(|id| p.portal == id))
        .filter_map(|p| {
            let written = p.written_ms?;
            let accepted = report.observer.creation_accepted_ms(p.portal, p.contact)?;
            Some((written - accepted).max(0))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Each portal's top leads: score, grade, who they are (from HubSpot), and the reasons text
/// Ember wrote.
pub async fn print_top_leads(system: &System, portals: &[InstalledPortal]) -> anyhow::Result<()> {
    let control = system.sim().control();
    for portal in portals {
        let id = ember_core::domain::PortalId::new(i64::try_from(portal.id)?)?;
        let rows = ember_core::store::demo::top_leads(system.pool(), id, TOP_LEADS)
            .await
            .context("cannot read the top leads")?;
        println!();
        println!("Top leads of portal {}:", portal.id);
        if rows.is_empty() {
            println!("  (no contact scored)");
        }
        for (rank, (contact, total, values)) in rows.into_iter().enumerate() {
            let values = values.unwrap_or_default();
            let value = |name: &Option<String>| {
                name.as_ref()
                    .and_then(|n| values.get(n))
                    .cloned()
                    .unwrap_or_else(|| "-".into())
            };
            let props = u64::try_from(contact)
                .ok()
                .and_then(|id| control.contact(portal.id, id))
                .map(|c| c.properties)
                .unwrap_or_default();
            let prop = |name: &str| props.get(name).map(String::as_str).unwrap_or("").trim();
            let name = format!("{} {}", prop("firstname"), prop("lastname"));
            let who = match (prop("jobtitle"), prop("company")) {
                ("", "") => String::new(),
                (title, "") => format!(", {title}"),
                ("", company) => format!(", {company}"),
                (title, company) => format!(", {title} at {company}"),
            };
            println!(
                "  {}. {total:>3}  grade {}  fit {}  engagement {}  {}{who} (contact {contact})",
                rank + 1,
                value(&portal.outputs.grade),
                value(&portal.outputs.fit),
                value(&portal.outputs.engagement),
                name.trim(),
            );
            println!("       because: {}", value(&portal.outputs.reasons));
        }
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), Some(50));
        assert_eq!(percentile(&values, 0.99), Some(99));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
