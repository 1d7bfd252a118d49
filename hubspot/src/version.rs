//! HubSpot's date-based API versions (docs/hubspot.md P1) and every path Ember calls on them.
//!
//! Each API family is pinned to one version, named once in the macros below; the paths and
//! the endpoint labels of errors are built from them at compile time, so moving a family to a
//! newer version is a one-line change here. The OAuth token endpoints are on 2026-03
//! (docs/hubspot.md D.2); the CRM objects, properties, account-info and app-install paths on
//! 2026-09 (docs/hubspot.md E, F, A.6). A test below fails if any Ember crate (not the
//! simulator) holds a legacy `v1`/`v3`/`v4` HubSpot path.

/// The OAuth API version, as a literal for `concat!`.
macro_rules! oauth_version {
    () => {
        "2026-03"
    };
}

/// The CRM objects, properties, account-info and app-install API version.
macro_rules! crm_version {
    () => {
        "2026-09"
    };
}

macro_rules! token_path {
    () => {
        concat!("/oauth/", oauth_version!(), "/token")
    };
}

macro_rules! contacts_path {
    () => {
        concat!("/crm/objects/", crm_version!(), "/contacts")
    };
}

macro_rules! properties_path {
    () => {
        concat!("/crm/properties/", crm_version!())
    };
}

macro_rules! account_details_path {
    () => {
        concat!("/account-info/", crm_version!(), "/details")
    };
}

macro_rules! external_install_path {
    () => {
        concat!("/appinstalls/", crm_version!(), "/external-install")
    };
}

/// The OAuth API version (`/oauth/{version}/token`).
pub const OAUTH: &str = oauth_version!();
/// The CRM API version (`/crm/objects/{version}/...`, `/crm/properties/{version}/...`), also
/// used for account info and app installs.
pub const CRM: &str = crm_version!();

/// `POST`: code exchange and refresh (docs/hubspot.md D.2).
pub const TOKEN: &str = token_path!();
/// `POST`: what an access or refresh token is (docs/hubspot.md D.3).
pub const TOKEN_INTROSPECT: &str = concat!(token_path!(), "/introspect");
/// `POST`: revokes a refresh token (docs/hubspot.md D.4).
pub const TOKEN_REVOKE: &str = concat!(token_path!(), "/revoke");
/// The contacts object (docs/hubspot.md E).
pub const CONTACTS: &str = contacts_path!();
/// `POST`: batch read of contacts (docs/hubspot.md E.3).
pub const CONTACTS_BATCH_READ: &str = concat!(contacts_path!(), "/batch/read");
/// `POST`: batch update of contacts (docs/hubspot.md E.3).
pub const CONTACTS_BATCH_UPDATE: &str = concat!(contacts_path!(), "/batch/update");
/// The properties API, followed by `/{objectType}` (docs/hubspot.md F).
pub const PROPERTIES: &str = properties_path!();
/// `GET`: the account a token belongs to.
pub const ACCOUNT_DETAILS: &str = account_details_path!();
/// `DELETE`: the app uninstalls itself (docs/hubspot.md A.6).
pub const EXTERNAL_INSTALL: &str = external_install_path!();

/// Endpoint labels carried by errors (`ApiFailure::endpoint`): method and path pattern.
pub(crate) mod endpoint {
    pub(crate) const TOKEN: &str = concat!("POST ", token_path!());
    pub(crate) const TOKEN_INTROSPECT: &str = concat!("POST ", token_path!(), "/introspect");
    pub(crate) const TOKEN_REVOKE: &str = concat!("POST ", token_path!(), "/revoke");
    pub(crate) const GET_CONTACT: &str = concat!("GET ", contacts_path!(), "/{id}");
    pub(crate) const LIST_CONTACTS: &str = concat!("GET ", contacts_path!());
    pub(crate) const CONTACTS_BATCH_READ: &str = concat!("POST ", contacts_path!(), "/batch/read");
    pub(crate) const CONTACTS_BATCH_UPDATE: &str =
        concat!("POST ", contacts_path!(), "/batch/update");
    pub(crate) const LIST_PROPERTIES: &str = concat!("GET ", properties_path!(), "/{objectType}");
    pub(crate) const CREATE_PROPERTY: &str = concat!("POST ", properties_path!(), "/{objectType}");
    pub(crate) const LIST_PROPERTY_GROUPS: &str =
        concat!("GET ", properties_path!(), "/{objectType}/groups");
    pub(crate) const CREATE_PROPERTY_GROUP: &str =
        concat!("POST ", properties_path!(), "/{objectType}/groups");
    pub(crate) const ACCOUNT_DETAILS: &str = concat!("GET ", account_details_path!());
    pub(crate) const EXTERNAL_INSTALL: &str = concat!("DELETE ", external_install_path!());
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The crates that call HubSpot or name its paths; the simulator (which serves the legacy
    /// paths on purpose) and the shared test harness are left out.
    const SCANNED_CRATES: [&str; 5] = ["hubspot", "api", "worker", "core", "cli"];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The lines holding HubSpot's legacy path segments (`v1`, `v3`, `v4` between slashes).
    fn legacy_segments(text: &str) -> Vec<(usize, String)> {
        // Built at run time, so that this file does not hold the segments it looks for.
        let legacy: Vec<String> = [1, 3, 4].iter().map(|v| format!("/v{v}/")).collect();
        text.lines()
            .enumerate()
            .filter(|(_, line)| legacy.iter().any(|l| line.contains(l.as_str())))
            .map(|(n, line)| (n + 1, line.trim().to_owned()))
            .collect()
    }

    #[test]
    fn the_versions_are_in_every_path() {
        assert_eq!(super::TOKEN, "/oauth/2026-03/token");
        assert_eq!(super::TOKEN_REVOKE, "/oauth/2026-03/token/revoke");
        assert_eq!(
            super::CONTACTS_BATCH_UPDATE,
            "/crm/objects/2026-09/contacts/batch/update"
        );
        assert_eq!(super::PROPERTIES, "/crm/properties/2026-09");
        assert_eq!(super::ACCOUNT_DETAILS, "/account-info/2026-09/details");
        assert_eq!(
            super::EXTERNAL_INSTALL,
            "/appinstalls/2026-09/external-install"
        );
        assert_eq!(
            super::endpoint::CONTACTS_BATCH_READ,
            "POST /crm/objects/2026-09/contacts/batch/read"
        );
    }

    #[test]
    fn the_scan_finds_a_legacy_path() {
        let legacy = concat!("/crm/v", "3/objects/contacts");
        let found = legacy_segments(&format!("let a = 1;\nconst P: &str = \"{legacy}\";\n"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 2);
        assert!(legacy_segments("concat!(\"/crm/objects/\", \"2026-09\")").is_empty());
    }

    #[test]
    fn no_ember_crate_holds_a_legacy_hubspot_path() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the hubspot crate sits in the workspace");
        let mut files = Vec::new();
        for krate in SCANNED_CRATES {
            let dir = workspace.join(krate);
            assert!(dir.is_dir(), "{} is not a crate folder", dir.display());
            rust_files(&dir, &mut files);
        }
        assert!(
            files.len() > 50,
            "the scan found only {} files; is the workspace layout still the same?",
            files.len()
        );
        let offenders: Vec<String> = files
            .iter()
            .flat_map(|file| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                legacy_segments(&text)
                    .into_iter()
                    .map(move |(line, text)| format!("{}:{line}: {text}", file.display()))
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "legacy HubSpot paths (name the version in hubspot/src/version.rs instead):\n{}",
            offenders.join("\n")
        );
    }
}
