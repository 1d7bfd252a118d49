//! The consistency check after the drain:
//!
//! 1. every live contact of every portal, read from the simulator: its Ember-owned properties
//!    (the model's output mapping) equal the values Ember stored for it (`contacts.score_values`
//!    of an active contact; none for a contact Ember never scored or retired);
//! 2. every unique event Ember accepted is recorded as processed (exactly once: the dedupe key is
//!    the primary key);
//! 3. every accepted delivery could be read back;
//! 4. the simulator counted no call on HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, ...):
//!    Ember speaks only the date-versioned APIs (docs/hubspot.md P2).
//!
//! A contact that differs is looked at again after a short pause, so a write in flight at the
//! first look (a decay step, say) does not count; one that still differs does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use hubspot_sim::Control;

use super::install::InstalledPortal;
use super::observe::Observer;
use super::summary::counted;
use super::system::System;

/// Pause before differing contacts are looked at again.
const SECOND_LOOK: Duration = Duration::from_secs(2);
/// Differences shown by example.
const EXAMPLES: usize = 5;

type Values = BTreeMap<String, String>;

/// One contact whose values differ.
struct Mismatch {
    portal: u64,
    contact: u64,
    hubspot: Values,
    ember: Values,
}

/// The check's findings.
pub struct Consistency {
    compared: usize,
    portals: usize,
    mismatches: Vec<Mismatch>,
    /// Per portal with a shortfall: unique accepted events, and how many are recorded processed.
    unprocessed: Vec<(u64, u64, i64)>,
    unreadable: u64,
    /// Calls the simulator received on HubSpot's legacy paths.
    legacy_calls: u64,
}

impl Consistency {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
            && self.unprocessed.is_empty()
            && self.unreadable == 0
            && self.legacy_calls == 0
    }

    pub fn print(&self) {
        println!(
            "legacy HubSpot paths: {} (must be 0; HubSpot refuses them to a current app)",
            counted(self.legacy_calls as usize, "call")
        );
        if self.ok() {
            println!(
                "consistency: OK — {} in {} compared: every Ember-owned property in HubSpot \
                 equals Ember's stored score, and every accepted event was processed exactly \
                 once.",
                counted(self.compared, "contact"),
                counted(self.portals, "portal")
            );
            return;
        }
        println!(
            "consistency: FAILED — {} of {} contacts differ between HubSpot and Ember.",
            self.mismatches.len(),
            self.compared
        );
        for m in self.mismatches.iter().take(EXAMPLES) {
            println!(
                "  portal {} contact {}: HubSpot has {:?}, Ember stored {:?}",
                m.portal, m.contact, m.hubspot, m.ember
            );
        }
        for (portal, unique, processed) in &self.unprocessed {
            println!(
                "  portal {portal}: {} of {unique} unique accepted events are not recorded as processed",
                *unique as i64 - processed
            );
        }
        if self.legacy_calls > 0 {
            println!(
                "  the simulator received {} on legacy paths (GET /_sim/calls lists them)",
                counted(self.legacy_calls as usize, "call")
            );
        }
        if self.unreadable > 0 {
            println!(
                "  {} accepted deliveries could not be verified and read back",
                self.unreadable
            );
        }
    }
}

/// Runs the check.
pub async fn run(
    system: &System,
    observer: &Observer,
    portals: &[InstalledPortal],
    processed: &BTreeMap<u64, i64>,
) -> anyhow::Result<Consistency> {
    let control = system.sim().control();
    let mut compared = 0;
    let mut differing = Vec::new();
    for portal in portals {
        let stored = stored_values(system, portal).await?;
        for contact in control.contact_ids(portal.id) {
            compared += 1;
            if let Some(m) = compare(control, portal, contact, &stored) {
                differing.push(m);
            }
        }
    }
    let mut mismatches = Vec::new();
    if !differing.is_empty() {
        tokio::time::sleep(SECOND_LOOK).await;
        let mut stored_by_portal = HashMap::new();
        for portal in portals {
            stored_by_portal.insert(portal.id, stored_values(system, portal).await?);
        }
        for first in differing {
            let Some(portal) = portals.iter().find(|p| p.id == first.portal) else {
                continue;
            };
            let Some(stored) = stored_by_portal.get(&portal.id) else {
                continue;
            };
            if let Some(m) = compare(control, portal, first.contact, stored) {
                mismatches.push(m);
            }
        }
    }
    let unique = observer.unique_counts();
    let unprocessed = unique
        .iter()
        .filter_map(|(portal, unique)| {
            let done = processed.get(portal).copied().unwrap_or(0);
            (done < *unique as i64).then_some((*portal, *unique, done))
        })
        .collect();
    Ok(Consistency {
        compared,
        portals: portals.len(),
        mismatches,
        unprocessed,
        unreadable: observer.unreadable(),
        legacy_calls: control.legacy_calls(),
    })
}

/// Ember's stored values of a portal's active contacts, restricted to its output properties.
async fn stored_values(
    system: &System,
    portal: &InstalledPortal,
) -> anyhow::Result<HashMap<u64, Values>> {
    let id = ember_core::domain::PortalId::new(i64::try_from(portal.id)?)?;
    let rows = ember_core::store::demo::stored_values(system.pool(), id)
        .await
        .context("cannot read Ember's stored scores")?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, values)| {
            let values = values.unwrap_or_default();
            Some((u64::try_from(id).ok()?, owned(portal, &values)))
        })
        .collect())
}

/// The contact's values on both sides, if they differ.
fn compare(
    control: &Control,
    portal: &InstalledPortal,
    contact: u64,
    stored: &HashMap<u64, Values>,
) -> Option<Mismatch> {
    let hubspot = control
        .contact(portal.id, contact)
        .map(|c| owned(portal, &c.properties))
        .unwrap_or_default();
    let ember = stored.get(&contact).cloned().unwrap_or_default();
    (hubspot != ember).then_some(Mismatch {
        portal: portal.id,
        contact,
        hubspot,
        ember,
    })
}

/// The non-empty values of the portal's Ember-owned properties (HubSpot shows a cleared value
/// as an empty string).
fn owned(portal: &InstalledPortal, values: &Values) -> Values {
    portal
        .outputs
        .all
        .iter()
        .filter_map(|name| {
            let v = values.get(name)?;
            (!v.is_empty()).then(|| (name.clone(), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use hubspot_sim::{PortalSpec, SimConfig, SimServer};

    use super::{Consistency, compare, owned};
    use crate::demo::install::{InstalledPortal, Outputs};

    /// A portal whose "Ember-owned" properties are `jobtitle` and `company`, so that the check
    /// can be tried on values the simulator already holds.
    fn portal(id: u64) -> InstalledPortal {
        InstalledPortal {
            id,
            model_version: 1,
            outputs: Outputs {
                total: "jobtitle".into(),
                reasons: None,
                grade: None,
                fit: None,
                engagement: None,
                all: vec!["jobtitle".into(), "company".into()],
            },
        }
    }

    #[test]
    fn a_single_call_on_a_legacy_hubspot_path_fails_the_check() {
        let clean = Consistency {
            compared: 10,
            portals: 1,
            mismatches: Vec::new(),
            unprocessed: Vec::new(),
            unreadable: 0,
            legacy_calls: 0,
        };
        assert!(clean.ok());
        let legacy = Consistency {
            legacy_calls: 1,
            ..clean
        };
        assert!(!legacy.ok());
    }

    #[tokio::test]
    async fn a_contact_matches_when_hubspot_holds_exactly_the_stored_values() {
        let sim = SimServer::start(SimConfig::default()).await.unwrap();
        let control = sim.control();
        let info = control.create_portal(PortalSpec::default());
        let contact = control
            .create_contact(
                info.id,
                BTreeMap::from([
                    ("email".to_owned(), "ada@example.com".to_owned()),
                    ("jobtitle".to_owned(), "CEO".to_owned()),
                    ("company".to_owned(), "Acme".to_owned()),
                ]),
            )
            .unwrap();
        let portal = portal(info.id);
        let stored = |values: &[(&str, &str)]| {
            HashMap::from([(
                contact,
                owned(
                    &portal,
                    &values
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            )])
        };

        let same = stored(&[("jobtitle", "CEO"), ("company", "Acme"), ("email", "x")]);
        assert!(compare(control, &portal, contact, &same).is_none());

        let other_value = stored(&[("jobtitle", "CTO"), ("company", "Acme")]);
        let mismatch = compare(control, &portal, contact, &other_value).expect("a mismatch");
        assert_eq!(
            mismatch.hubspot.get("jobtitle").map(String::as_str),
            Some("CEO")
        );
        assert_eq!(
            mismatch.ember.get("jobtitle").map(String::as_str),
            Some("CTO")
        );

        // A value Ember never stored is a mismatch; an empty stored value counts as none.
        let missing = stored(&[("jobtitle", "CEO"), ("company", "")]);
        assert!(compare(control, &portal, contact, &missing).is_some());
        assert!(compare(control, &portal, contact, &HashMap::new()).is_some());

        sim.shutdown().await;
    }
}
