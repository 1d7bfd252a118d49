//! Charts drawn on the server as SVG with a fixed view box (the page never reflows when they
//! arrive): the score histogram and the grade split. Colours come from the stylesheet's classes;
//! the markup carries no inline styles, so the CSP can forbid them.

use std::fmt::Write;

/// One histogram bucket: scores in `from..to` (the last bucket includes `to`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub from: f64,
    pub to: f64,
    pub count: i64,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A bar chart of the buckets, labelled for screen readers with `label`.
pub(crate) fn histogram(buckets: &[Bucket], label: &str) -> String {
    let mut svg = String::with_capacity(4096);
    let total: i64 = buckets.iter().map(|b| b.count).sum();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(label),
        escape(&format!("{label}: {total} contacts")),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    // Axis and the largest count, so bar heights can be read.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{y}" x2="{x2}" y2="{y}"/><text x="{tx}" y="{ty}" text-anchor="end">{max}</text><text x="{tx}" y="{y}" text-anchor="end">0</text>"#,
        y = TOP + plot_h,
        x2 = WIDTH - RIGHT,
        tx = LEFT - 6.0,
        ty = TOP + 8.0,
    );
    if buckets.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No scored contacts yet</text></svg>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let slot = plot_w / buckets.len() as f64;
    let gap = (slot * 0.12).min(6.0);
    for (i, b) in buckets.iter().enumerate() {
        let h = if b.count == 0 {
            0.0
        } else {
            (b.count as f64 / max as f64 * plot_h).max(1.5)
        };
        let x = LEFT + i as f64 * slot + gap / 2.0;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="2"><title>{from}–{to}: {count}</title></rect>"#,
            y = TOP + plot_h - h,
            w = slot - gap,
            from = number(b.from),
            to = number(b.to),
            count = b.count,
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + i as f64 * slot,
            HEIGHT - 8.0,
            number(b.from)
        );
    }
    if let Some(last) = buckets.last() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            HEIGHT - 8.0,
            number(last.to)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One grade's share, for the split bar and its legend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GradeShare {
    pub label: String,
    pub count: i64,
    /// Percent of all graded contacts, one decimal.
    pub percent: String,
    /// The CSS class of its colour (`grade-A`...; `grade-other` beyond D).
    pub class: String,
}

/// Shares of each grade, in the given order.
pub(crate) fn grade_shares(grades: &[(String, i64)]) -> Vec<GradeShare> {
    let total: i64 = grades.iter().map(|(_, n)| n).sum();
    grades
        .iter()
        .map(|(label, count)| GradeShare {
            label: label.clone(),
            count: *count,
            percent: if total == 0 {
                "0".into()
            } else {
                format!("{:.1}", *count as f64 * 100.0 / total as f64)
            },
            class: grade_class(label),
        })
        .collect()
}

/// The CSS class that colours a grade label.
pub(crate) fn grade_class(label: &str) -> String {
    match label {
        "A" | "B" | "C" | "D" => format!("grade-{label}"),
        _ => "grade-other".into(),
    }
}

const GRADE_FILLS: &[(&str, &str)] = &[
    ("A", "#37b24d"),
    ("B", "#4c8fd6"),
    ("C", "#f0b429"),
    ("D", "#e26d6d"),
];

/// The fill of a grade in the split bar (SVG attributes, not inline CSS).
pub(crate) fn grade_fill(label: &str) -> &'static str {
    GRADE_FILLS
        .iter()
        .find(|(l, _)| *l == label)
        .map_or("#a0aec0", |(_, fill)| fill)
}

/// A horizontal bar split by grade.
pub(crate) fn grade_split(shares: &[GradeShare]) -> String {
    let total: i64 = shares.iter().map(|s| s.count).sum();
    let mut svg = String::from(
        r#"<svg class="grade-split-svg" viewBox="0 0 640 14" width="100%" height="14" preserveAspectRatio="none" role="img" aria-label="Contacts by grade">"#,
    );
    svg.push_str(r##"<rect x="0" y="0" width="640" height="14" rx="7" fill="#eef1f6"/>"##);
    if total > 0 {
        let mut x = 0.0;
        for s in shares {
            let w = s.count as f64 / total as f64 * 640.0;
            if w > 0.0 {
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.2}" y="0" width="{w:.2}" height="14" fill="{}"><title>{}: {} ({}%)</title></rect>"#,
                    grade_fill(&s.label),
                    escape(&s.label),
                    s.count,
                    s.percent
                );
            }
            x += w;
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_draws_one_bar_per_bucket_scaled_to_the_largest() {
        let buckets = [
            Bucket {
                from: 0.0,
                to: 10.0,
                count: 4,
            },
            Bucket {
                from: 10.0,
                to: 20.0,
                count: 2,
            },
            Bucket {
                from: 20.0,
                to: 30.0,
                count: 0,
            },
        ];
        let svg = histogram(&buckets, "Scores <now>");
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert!(svg.contains("height=\"198.0\""), "{svg}");
        assert!(svg.contains("height=\"99.0\""), "{svg}");
        assert!(svg.contains("height=\"0.0\""), "{svg}");
        assert!(svg.contains("Scores &lt;now&gt;: 6 contacts"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn an_empty_histogram_says_so() {
        assert!(histogram(&[], "Scores").contains("No scored contacts yet"));
    }

    #[test]
    fn grade_shares_are_percentages_of_all_graded_contacts() {
        let shares = grade_shares(&[("A".into(), 1), ("B".into(), 3), ("X".into(), 0)]);
        assert_eq!(shares[0].percent, "25.0");
        assert_eq!(shares[1].percent, "75.0");
        assert_eq!(shares[2].class, "grade-other");
        let svg = grade_split(&shares);
        assert_eq!(
            svg.matches("<title>").count(),
            2,
            "no slice for an empty grade"
        );
    }
}
