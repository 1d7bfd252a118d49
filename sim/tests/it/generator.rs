//! The seeded generator: deterministic, realistic proportions.

use hubspot_sim::{PortalSpec, TrafficOptions};

use crate::helpers::start_with;

#[tokio::test]
async fn the_same_seed_gives_the_same_portals_contacts_and_traffic() {
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let t = start_with(|c| {
            c.seed = 7;
            c.portals = 2;
            c.contacts_per_portal = 50;
        })
        .await;
        let ctl = t.sim.control();
        let portals = ctl.portals();
        let p = portals[0].id;
        ctl.install(p);
        let summary = ctl.generate_traffic(p, 200, TrafficOptions::default());
        let contacts: Vec<_> = ctl
            .contact_ids(p)
            .into_iter()
            .map(|id| ctl.contact(p, id).unwrap())
            .collect();
        snapshots.push((
            portals.iter().map(|p| p.id).collect::<Vec<_>>(),
            contacts,
            summary,
        ));
        t.sim.shutdown().await;
    }
    assert_eq!(snapshots[0], snapshots[1]);
    assert!(snapshots[0].2.webhook_events > 0);
}

#[tokio::test]
async fn generated_contacts_have_realistic_proportions() {
    let t = start_with(|c| c.seed = 11).await;
    let ctl = t.sim.control();
    let p = ctl.create_portal(PortalSpec {
        contacts: 2_000,
        ..PortalSpec::default()
    });
    let emails: Vec<String> = ctl
        .contact_ids(p.id)
        .into_iter()
        .map(|id| ctl.contact(p.id, id).unwrap().properties["email"].clone())
        .collect();
    let share = |suffixes: &[&str]| {
        emails
            .iter()
            .filter(|e| suffixes.iter().any(|s| e.ends_with(s)))
            .count() as f64
            / emails.len() as f64
    };
    let freemail = share(&[
        "gmail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "icloud.com",
        "gmx.de",
        "proton.me",
    ]);
    let student = share(&[".edu", ".ac.uk", "tum.de", ".ac.in", "utoronto.ca"]);
    let competitor = share(&[
        "marketo.com",
        "pardot.com",
        "activecampaign.com",
        "mailchimp.com",
    ]);
    assert!((0.13..0.23).contains(&freemail), "freemail {freemail}");
    assert!((0.04..0.10).contains(&student), "student {student}");
    assert!(
        (0.03..0.08).contains(&competitor),
        "competitor {competitor}"
    );
    let c = ctl.contact(p.id, ctl.contact_ids(p.id)[0]).unwrap();
    for k in [
        "jobtitle",
        "industry",
        "numemployees",
        "annualrevenue",
        "country",
        "lifecyclestage",
    ] {
        assert!(c.properties.contains_key(k), "{k}");
    }
}
