//! Built-in lists shipped as data (`scoring/data/lists/*.txt`) and their per-portal edits.
//!
//! A list file has one entry per line; `#` starts a comment. Entries are compared lowercased.
//! Domain entries may be written `@gmail.com` or `.edu`; the leading `@` or `.` is dropped.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{ListEdit, Model};

/// Free e-mail providers (gmail.com, …).
pub const FREEMAIL: &str = "freemail";
/// Academic domains and suffixes (edu, ac.uk, …): a student signal.
pub const ACADEMIC_DOMAINS: &str = "academic_domains";
/// Words of students' job titles (student, intern, …): a student signal.
pub const STUDENT_TITLES: &str = "student_titles";
/// Competitors' domains: shipped empty, filled per portal.
pub const COMPETITORS: &str = "competitors";

/// Names of the built-in lists.
pub const BUILTIN_LIST_NAMES: [&str; 4] = [FREEMAIL, ACADEMIC_DOMAINS, STUDENT_TITLES, COMPETITORS];

const FREEMAIL_DATA: &str = include_str!("../data/lists/freemail-domains.txt");
const ACADEMIC_DATA: &str = include_str!("../data/lists/academic-domains.txt");
const STUDENT_TITLES_DATA: &str = include_str!("../data/lists/student-titles.txt");
const COMPETITORS_DATA: &str = include_str!("../data/lists/competitor-domains.txt");

/// The entries of a built-in list as shipped, normalized; `None` for an unknown name.
pub fn builtin_list(name: &str) -> Option<Vec<String>> {
    let data = match name {
        FREEMAIL => FREEMAIL_DATA,
        ACADEMIC_DOMAINS => ACADEMIC_DATA,
        STUDENT_TITLES => STUDENT_TITLES_DATA,
        COMPETITORS => COMPETITORS_DATA,
        _ => return None,
    };
    Some(data.lines().filter_map(normalize_entry).collect())
}

/// Trims, lowercases and drops comments and a leading `@` or `.`; `None` for a blank line.
pub(crate) fn normalize_entry(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or_default().trim();
    let line = line.trim_start_matches(['@', '.']).trim_end_matches('.');
    (!line.is_empty()).then(|| lowercase(line))
}

/// Unicode lowercase, char by char (the same folding the matcher applies to values).
pub(crate) fn lowercase(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Every list the model can name, after this portal's edits: name → sorted entries.
pub(crate) fn resolve(model: &Model) -> BTreeMap<String, Vec<String>> {
    let l = &model.lists;
    let mut out = BTreeMap::new();
    let edits: [(&str, Option<&ListEdit>, &[String]); 4] = [
        (FREEMAIL, Some(&l.freemail), &[]),
        (ACADEMIC_DOMAINS, Some(&l.academic_domains), &[]),
        (STUDENT_TITLES, Some(&l.student_titles), &[]),
        (COMPETITORS, None, &l.competitors),
    ];
    for (name, edit, extra) in edits {
        let mut set: BTreeSet<String> =
            builtin_list(name).unwrap_or_default().into_iter().collect();
        if let Some(edit) = edit {
            set.extend(edit.add.iter().filter_map(|e| normalize_entry(e)));
            for e in edit.remove.iter().filter_map(|e| normalize_entry(e)) {
                set.remove(&e);
            }
        }
        set.extend(extra.iter().filter_map(|e| normalize_entry(e)));
        out.insert(name.to_owned(), set.into_iter().collect());
    }
    for (name, entries) in &l.custom {
        let set: BTreeSet<String> = entries.iter().filter_map(|e| normalize_entry(e)).collect();
        out.insert(name.clone(), set.into_iter().collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_list_loads_and_the_signal_lists_are_not_empty() {
        for name in [FREEMAIL, ACADEMIC_DOMAINS, STUDENT_TITLES] {
            let list = builtin_list(name).expect("built-in");
            assert!(list.len() > 5, "{name} has {} entries", list.len());
        }
        assert!(
            builtin_list(FREEMAIL)
                .expect("built-in")
                .contains(&"gmail.com".to_owned())
        );
        assert!(builtin_list("nope").is_none());
    }

    #[test]
    fn entries_are_normalized() {
        assert_eq!(
            normalize_entry("  @GMail.com # x"),
            Some("gmail.com".to_owned())
        );
        assert_eq!(normalize_entry(".edu"), Some("edu".to_owned()));
        assert_eq!(normalize_entry("# only a comment"), None);
    }
}
