//! Allocation-free, case-insensitive text tests used while scoring.
//!
//! Needles are lowercased once when the model is compiled (char by char, as
//! [`lists::lowercase`](super::lists::lowercase) does); haystacks are folded on the fly, with an
//! ASCII fast path, so scoring a contact never allocates for a comparison.

use std::hash::{BuildHasherDefault, Hasher};

/// `hay` (any case, trimmed by the caller) equals the lowercased `needle`.
pub(crate) fn eq_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() == needle.len() && hay.eq_ignore_ascii_case(needle)
    } else {
        hay.chars().flat_map(char::to_lowercase).eq(needle.chars())
    }
}

/// `hay` starts with the lowercased `needle`.
pub(crate) fn starts_with_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        starts_with_ci_ascii(hay.as_bytes(), needle.as_bytes())
    } else {
        prefix_len_ci(hay, needle).is_some()
    }
}

/// [`starts_with_ci`] of an ASCII `hay` (a non-ASCII needle never matches one).
#[inline(always)]
pub(crate) fn starts_with_ci_ascii(hay: &[u8], needle: &[u8]) -> bool {
    hay.get(..needle.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(needle))
}

/// When `hay` starts with the lowercased `needle`, how many bytes of `hay` the match used.
fn prefix_len_ci(hay: &str, needle: &str) -> Option<usize> {
    let mut want = needle.chars().peekable();
    for (i, c) in hay.char_indices() {
        if want.peek().is_none() {
            return Some(i);
        }
        for lc in c.to_lowercase() {
            if want.next() != Some(lc) {
                return None;
            }
        }
    }
    want.peek().is_none().then_some(hay.len())
}

/// `hay` contains the lowercased `needle` anywhere.
pub(crate) fn contains_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        return contains_ci_ascii(hay.as_bytes(), needle.as_bytes());
    }
    hay.char_indices()
        .any(|(i, _)| prefix_len_ci(&hay[i..], needle).is_some())
}

/// [`contains_ci`] of an ASCII `hay` (a non-ASCII needle never matches one: its bytes above
/// 0x7F equal no ASCII byte, whatever the case).
#[inline]
pub(crate) fn contains_ci_ascii(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    // A byte that starts a match equals `first` once both have bit 0x20 set (that bit is all
    // that tells an ASCII capital from its small letter): a one-instruction filter before the
    // full comparison.
    let key = first | 0x20;
    (0..=last_start).any(|i| {
        hay[i] | 0x20 == key
            && hay
                .get(i..i + needle.len())
                .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    })
}

/// Lowercased words or phrases looked for as whole words (see [`Needles::find_in`]), sorted,
/// with their first bytes kept apart so a lookup touches only the candidates.
#[derive(Debug, Clone)]
pub(crate) struct Needles {
    needles: Box<[Box<str>]>,
    /// Bit b set when some needle starts with the ASCII byte b.
    ascii_firsts: u128,
    /// For each ASCII byte b, the range of `needles` that start with b (they are sorted).
    by_first: Box<[(u32, u32); 128]>,
}

impl Needles {
    /// Sorts and dedups; empty needles are dropped.
    pub(crate) fn new(mut needles: Vec<Box<str>>) -> Self {
        needles.retain(|n| !n.is_empty());
        needles.sort();
        needles.dedup();
        let mut by_first = Box::new([(0u32, 0u32); 128]);
        let mut ascii_firsts = 0u128;
        for (i, needle) in needles.iter().enumerate() {
            let first = needle.as_bytes()[0];
            if let Some(range) = by_first.get_mut(usize::from(first)) {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                if ascii_firsts >> first & 1 == 0 {
                    range.0 = i;
                }
                range.1 = i.saturating_add(1);
                ascii_firsts |= 1u128 << first;
            }
        }
        Self {
            needles: needles.into(),
            ascii_firsts,
            by_first,
        }
    }

    /// `hay` contains one of the needles as a whole word or phrase: not preceded or followed by
    /// a letter or digit (so `intern` matches "Marketing Intern" but not "International Sales").
    /// `ascii` tells whether `hay` is ASCII; `starts` is [`word_starts`] of `hay` when known.
    pub(crate) fn find_in(&self, hay: &str, ascii: bool, starts: Option<u64>) -> bool {
        if !ascii {
            return self.find_in_unicode(hay);
        }
        let bytes = hay.as_bytes();
        if let Some(mut starts) = starts.filter(|_| bytes.len() <= 64) {
            while starts != 0 {
                let i = starts.trailing_zeros() as usize;
                starts &= starts - 1;
                let first = bytes[i].to_ascii_lowercase();
                if self.ascii_firsts >> first & 1 == 1 && self.starts_word_at(&bytes[i..], first) {
                    return true;
                }
            }
            return false;
        }
        let mut prev_alnum = false;
        for (i, &b) in bytes.iter().enumerate() {
            let alnum = b.is_ascii_alphanumeric();
            if !prev_alnum {
                let first = b.to_ascii_lowercase();
                if self.ascii_firsts >> first & 1 == 1 && self.starts_word_at(&bytes[i..], first) {
                    return true;
                }
            }
            prev_alnum = alnum;
        }
        false
    }

    fn starts_word_at(&self, rest: &[u8], first: u8) -> bool {
        let (from, to) = self
            .by_first
            .get(usize::from(first))
            .map_or((0, 0), |&(from, to)| (from as usize, to as usize));
        let candidates = self.needles.get(from..to).unwrap_or_default();
        candidates.iter().any(|n| {
            let n = n.as_bytes();
            rest.len() >= n.len()
                && rest[..n.len()].eq_ignore_ascii_case(n)
                && rest.get(n.len()).is_none_or(|c| !c.is_ascii_alphanumeric())
        })
    }

    fn find_in_unicode(&self, hay: &str) -> bool {
        let mut prev_alnum = false;
        for (i, c) in hay.char_indices() {
            if !prev_alnum {
                let rest = &hay[i..];
                let hit = self.needles.iter().any(|n| {
                    prefix_len_ci(rest, n).is_some_and(|len| {
                        rest[len..]
                            .chars()
                            .next()
                            .is_none_or(|c| !c.is_alphanumeric())
                    })
                });
                if hit {
                    return true;
                }
            }
            prev_alnum = c.is_alphanumeric();
        }
        false
    }
}

/// Bit i set when byte i of an ASCII `hay` (of at most 64 bytes) is not preceded by a letter
/// or digit: where a whole word can start.
pub(crate) fn word_starts(hay: &[u8]) -> u64 {
    let n = hay.len().min(64);
    // A table lookup per byte, last byte first: a short scalar loop (the compiler's
    // vectorized form of the obvious loop costs several times more on titles of 10–30 bytes).
    let alnum = hay[..n].iter().rev().fold(0u64, |m, &b| {
        m << 1 | ALNUM[usize::from(b >> 6)] >> (b & 63) & 1
    });
    let valid = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    !(alnum << 1) & valid
}

/// Bit b of the 256-bit set (word b / 64, bit b % 64) is set when byte b is an ASCII letter or
/// digit.
static ALNUM: [u64; 4] = {
    let mut bits = [0u64; 4];
    let mut b = 0usize;
    while b < 256 {
        if (b as u8).is_ascii_alphanumeric() {
            bits[b / 64] |= 1 << (b % 64);
        }
        b += 1;
    }
    bits
};

/// The first 8 bytes of a name, big-endian and zero-padded: comparing keys orders names like
/// `str::cmp` does (names hold no NUL), and decides most comparisons without touching the
/// strings. Snapshots, ledgers and compiled models store the keys of their names.
pub(crate) fn name_key(s: &str) -> u64 {
    let w = s
        .bytes()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(b));
    w.checked_shl(8 * (8 - s.len().min(8)) as u32).unwrap_or(0)
}

/// [`name_key`] of bytes 8 to 16 of a name (0 for a name of at most 8 bytes): with the key and
/// the length, it decides whether two names of up to 16 bytes are equal without reading them.
pub(crate) fn name_tail_key(s: &str) -> u64 {
    s.get(8..).map_or(0, name_key)
}

/// Byte equality of two short strings, word by word and inlined (no call to `memcmp`, which
/// dominates for the 10–30 byte names compared while scoring).
#[inline]
pub(crate) fn eq_short(a: &str, b: &str) -> bool {
    eq_bytes(a.as_bytes(), b.as_bytes())
}

/// [`eq_short`] on bytes.
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
    let words_equal = ca
        .by_ref()
        .zip(cb.by_ref())
        .all(|(x, y)| word(x) == word(y));
    words_equal
        && ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .all(|(x, y)| x == y)
}

/// Parses a HubSpot number: a fast path for plain integers, else `f64::from_str`. NaN when the
/// value is not a finite number.
pub(crate) fn parse_number(s: &str) -> f64 {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        return b.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')) as f64;
    }
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .unwrap_or(f64::NAN)
}

/// The domain of an e-mail address, or the value itself when it has no `@` (a bare domain),
/// without surrounding spaces, `<>` and dots. `None` when nothing is left.
pub(crate) fn domain_of(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let start = b.iter().rposition(|&c| c == b'@').map_or(0, |i| i + 1);
    let rest = b.get(start..).unwrap_or_default();
    if rest.is_ascii() {
        // The same trims on bytes (no char decoding, no pattern searcher). `str::trim` drops
        // Unicode white space, which in ASCII is these six bytes (`trim_ascii` keeps \x0B).
        let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
        let (mut lo, mut hi) = (0, rest.len());
        while lo < hi && space(rest[lo]) {
            lo += 1;
        }
        while hi > lo && space(rest[hi - 1]) {
            hi -= 1;
        }
        while hi > lo && matches!(rest[hi - 1], b'>' | b'.') {
            hi -= 1;
        }
        while lo < hi && rest[lo] == b'.' {
            lo += 1;
        }
        return value.get(start + lo..start + hi).filter(|d| !d.is_empty());
    }
    let d = value.get(start..)?.trim();
    let d = d.trim_end_matches(['>', '.']).trim_start_matches('.');
    (!d.is_empty()).then_some(d)
}

/// Longest domain the stack buffer of [`lowercase_domain`] holds (DNS names are at most 253).
pub(crate) const MAX_DOMAIN: usize = 256;

/// The domain lowercased, in `buf` when it has ASCII capitals, borrowed when already lowercase.
/// Non-ASCII (internationalized) domains and overlong ones are returned as they are: they
/// match a list only if written the same way.
pub(crate) fn lowercase_domain<'a>(domain: &'a str, buf: &'a mut [u8; MAX_DOMAIN]) -> &'a str {
    if !domain.bytes().any(|b| b.is_ascii_uppercase())
        || !domain.is_ascii()
        || domain.len() > MAX_DOMAIN
    {
        return domain;
    }
    let out = &mut buf[..domain.len()];
    out.copy_from_slice(domain.as_bytes());
    out.make_ascii_lowercase();
    // ASCII in, ASCII out: still valid UTF-8.
    std::str::from_utf8(out).unwrap_or(domain)
}

/// The domain and each parent domain: `a.b.com`, `b.com`, `com`.
pub(crate) fn domain_and_parents(domain: &str) -> impl Iterator<Item = &str> {
    // Byte positions: a `.` is never inside a multi-byte character.
    std::iter::once(domain).chain(
        domain
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'.')
            .map(move |(i, _)| domain.get(i + 1..).unwrap_or_default()),
    )
}

/// A small, fast, non-cryptographic hasher (FxHash) for the compiled domain index: its keys come
/// from the model, not from attackers, so flooding resistance is not needed.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_SEED);
    }
}

/// Builds [`FxHasher`]s.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_ignore_case_in_ascii_and_unicode() {
        assert!(eq_ci("SaaS", "saas"));
        assert!(!eq_ci("SaaS ", "saas"));
        assert!(eq_ci("ÉTUDIANT", "étudiant"));
        assert!(starts_with_ci("Chief Technology Officer", "chief"));
        assert!(starts_with_ci("Ärztin", "ä"));
        assert!(contains_ci("VP of Sales", "vp"));
        assert!(contains_ci("Directeur Général", "général"));
        assert!(!contains_ci("Engineer", "vp"));
    }

    #[test]
    fn word_matches_respect_boundaries() {
        let find = |hay: &str, ws: &[&str]| {
            let needles = Needles::new(ws.iter().map(|w| Box::<str>::from(*w)).collect());
            let scanned = needles.find_in(hay, hay.is_ascii(), None);
            let with_starts =
                needles.find_in(hay, hay.is_ascii(), Some(word_starts(hay.as_bytes())));
            assert_eq!(scanned, with_starts, "{hay:?}");
            scanned
        };
        assert!(find("Marketing Intern", &["student", "intern"]));
        assert!(find("PhD Student, Biology", &["phd student"]));
        assert!(!find("International Sales", &["intern", "sale"]));
        assert!(!find("Internal", &["intern"]));
        assert!(find("Étudiant", &["étudiant"]));
        assert!(find("Chef, Étudiant en droit", &["xyz", "étudiant"]));
        assert!(!find("Étudiante", &["étudiant"]));
        assert!(find("VP, Sales", &["vp", ""]));
        assert!(find("the intern", &["intern", "interns", "internship"]));
    }

    #[test]
    fn word_starts_are_the_bytes_after_a_non_alphanumeric_one() {
        for hay in [
            "",
            "a",
            "Chief Executive Officer",
            "Intern, Growth",
            "x-ray  ÿ9",
            "  VP",
        ] {
            let bytes = hay.as_bytes();
            let expected = (0..bytes.len().min(64))
                .filter(|&i| i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                .fold(0u64, |m, i| m | 1 << i);
            assert_eq!(word_starts(bytes), expected, "{hay:?}");
        }
        let long = "ab ".repeat(30);
        assert_eq!(word_starts(long.as_bytes()).count_ones(), 22);
    }

    #[test]
    fn names_with_equal_keys_lengths_and_tail_keys_are_equal_up_to_16_bytes() {
        let same = |a: &str, b: &str| {
            a.len() == b.len() && name_key(a) == name_key(b) && name_tail_key(a) == name_tail_key(b)
        };
        assert!(same("hubspot_owner_id", "hubspot_owner_id"));
        assert!(!same("hubspot_owner_id", "hubspot_owner_ix"));
        assert!(!same("numberofemploy", "numberofemplox"));
        assert!(!same("abcdefgh", "abcdefgh\0"));
        assert_eq!(name_tail_key("short"), 0);
    }

    #[test]
    fn names_compare_like_strings() {
        use std::cmp::Ordering;
        for (a, b) in [
            ("a", "b"),
            ("hs_email", "hs_email_domain"),
            ("numberofemployees", "numberofemployeez"),
            ("", "a"),
            ("same", "same"),
        ] {
            // Keys never contradict the order of the names.
            let (ka, kb) = (name_key(a), name_key(b));
            assert!(ka == kb || ka.cmp(&kb) == a.cmp(b), "{a} vs {b}");
        }
        assert_eq!(name_key("hs_email"), name_key("hs_email_domain"));
        assert_eq!(name_key("x").cmp(&name_key("y")), Ordering::Less);
    }

    #[test]
    fn short_equality_matches_str_equality() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("numberofemployees", "numberofemployees"),
            ("numberofemployees", "numberofemployeez"),
            ("abcdefgh", "abcdefgh"),
            ("abcdefgh", "abcdefgi"),
            ("ab", "abc"),
        ] {
            assert_eq!(eq_short(a, b), a == b, "{a} vs {b}");
        }
    }

    #[test]
    fn numbers_parse_with_and_without_the_fast_path() {
        assert_eq!(parse_number("150"), 150.0);
        assert_eq!(parse_number("1.5e3"), 1500.0);
        assert_eq!(parse_number("-20"), -20.0);
        assert!(parse_number("n/a").is_nan());
        assert!(parse_number("inf").is_nan());
        assert_eq!(
            parse_number("1234567890123456789"),
            1_234_567_890_123_456_789.0
        );
    }

    #[test]
    fn domains_are_extracted_lowercased_and_walked_up() {
        assert_eq!(
            domain_of(" Jane <jane@CS.Stanford.EDU> "),
            Some("CS.Stanford.EDU")
        );
        assert_eq!(domain_of("acme.com"), Some("acme.com"));
        assert_eq!(domain_of("jane@"), None);
        assert_eq!(domain_of("jane@ .acme.com.> "), Some("acme.com"));
        assert_eq!(domain_of("jane@acme.com. >"), Some("acme.com. "));
        assert_eq!(domain_of("jane@\x0Bacme.com\x0B"), Some("acme.com"));
        assert_eq!(domain_of("jane@ ..>. "), None);
        assert_eq!(
            domain_of("jane@\u{a0}étudiant.fr\u{a0}"),
            Some("étudiant.fr")
        );
        let mut buf = [0; MAX_DOMAIN];
        let lower = lowercase_domain("CS.Stanford.EDU", &mut buf);
        let parents: Vec<&str> = domain_and_parents(lower).collect();
        assert_eq!(parents, ["cs.stanford.edu", "stanford.edu", "edu"]);
    }
}
