//! Histograms, grade counts and means of totals, shared by the score distribution and the
//! preview.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::BUCKET_WIDTH;
use crate::scoring::Model;

/// One histogram bucket: totals from `from` up to `to` (exclusive, except in the last bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Bucket {
    pub from: i64,
    pub to: i64,
    pub count: i64,
}

/// How totals are spread: a histogram, the count per grade, and the mean.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Distribution {
    pub histogram: Vec<Bucket>,
    /// Every grade of the model, with how many contacts have it (also 0).
    pub grades: BTreeMap<String, i64>,
    pub mean: f64,
}

/// The bucket range `[lo, hi]` that holds these totals: at least 0 to 100, widened to whole
/// buckets when totals fall outside it.
pub fn histogram_range(totals: impl IntoIterator<Item = i64>) -> (i64, i64) {
    totals.into_iter().fold((0, 100), |(lo, hi), t| {
        let floor = t.div_euclid(BUCKET_WIDTH) * BUCKET_WIDTH;
        let ceil = floor + if t == floor { 0 } else { BUCKET_WIDTH };
        (lo.min(floor), hi.max(ceil))
    })
}

/// The grade a rounded total reaches under `model`: the band with the highest minimum at or
/// below it (a band without a minimum catches the rest), as the scoring engine decides it.
pub fn grade_of(model: &Model, total: i64) -> Option<&str> {
    let mut bands: Vec<(f64, &str)> = model
        .grades
        .iter()
        .map(|b| (b.min.unwrap_or(f64::NEG_INFINITY), b.label.as_str()))
        .collect();
    bands.sort_by(|a, b| b.0.total_cmp(&a.0));
    bands
        .into_iter()
        .find(|(min, _)| total as f64 >= *min)
        .map(|(_, label)| label)
}

/// The distribution of `(total, grade, count)` groups over the buckets of `range`; `model`
/// names the grades.
pub fn distribution<'a>(
    model: &Model,
    groups: impl IntoIterator<Item = (i64, Option<&'a str>, i64)>,
    (lo, hi): (i64, i64),
) -> Distribution {
    let buckets = usize::try_from(((hi - lo) / BUCKET_WIDTH).max(1)).unwrap_or(1);
    let mut histogram: Vec<Bucket> = (0..buckets)
        .map(|i| {
            let from = lo + i as i64 * BUCKET_WIDTH;
            Bucket {
                from,
                to: from + BUCKET_WIDTH,
                count: 0,
            }
        })
        .collect();
    let mut grades: BTreeMap<String, i64> =
        model.grades.iter().map(|b| (b.label.clone(), 0)).collect();
    let (mut sum, mut n) = (0.0, 0i64);
    for (total, grade, count) in groups {
        let index = usize::try_from((total - lo).div_euclid(BUCKET_WIDTH))
            .unwrap_or(0)
            .min(buckets - 1);
        histogram[index].count += count;
        if let Some(grade) = grade {
            *grades.entry(grade.to_owned()).or_default() += count;
        }
        sum += total as f64 * count as f64;
        n += count;
    }
    Distribution {
        histogram,
        grades,
        mean: if n == 0 { 0.0 } else { sum / n as f64 },
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::scoring::{Ledger, Snapshot};

    #[test]
    fn the_histogram_range_spans_0_to_100_and_widens_by_whole_buckets() {
        assert_eq!(histogram_range([]), (0, 100));
        assert_eq!(histogram_range([3, 100]), (0, 100));
        assert_eq!(histogram_range([-1, 101]), (-10, 110));
        assert_eq!(histogram_range([-20, 120]), (-20, 120));
    }

    #[test]
    fn a_distribution_counts_buckets_grades_and_the_mean() {
        let model = Model::default_model();
        let labels: Vec<String> = model.grades.iter().map(|b| b.label.clone()).collect();
        let first = labels[0].as_str();
        let d = distribution(
            &model,
            [
                (0, None, 2),
                (9, Some(first), 1),
                (10, None, 1),
                (100, Some(first), 1),
            ],
            (0, 100),
        );
        assert_eq!(d.histogram.len(), 10);
        assert_eq!(
            d.histogram[0],
            Bucket {
                from: 0,
                to: 10,
                count: 3
            }
        );
        assert_eq!(d.histogram[1].count, 1);
        assert_eq!(
            d.histogram[9].count, 1,
            "the top value is in the last bucket"
        );
        assert_eq!(d.grades[first], 2);
        assert_eq!(d.grades.len(), labels.len(), "every grade listed");
        assert!((d.mean - 119.0 / 5.0).abs() < 1e-9);
    }

    #[test]
    fn grade_of_agrees_with_the_engine() {
        let model = Model::default_model();
        for total in [-5, 0, 19, 20, 39, 40, 59, 60, 79, 80, 100] {
            // A fit-only model with one rule worth exactly `total` points reaches that total.
            let mut m = model.clone();
            m.engagement.clear();
            m.fit.truncate(1);
            m.fit[0].points = total as f64;
            m.fit[0].when =
                serde_json::from_value(serde_json::json!({"known": {"property": "email"}}))
                    .unwrap();
            m.caps = Default::default();
            let c = m.validate().unwrap();
            let snapshot: Snapshot = [("email", "a@b.co")].into_iter().collect();
            let scored = c.score(&snapshot, &Ledger::new(), Utc::now());
            assert_eq!(scored.rounded_total(), total);
            assert_eq!(grade_of(&model, total), scored.grade.as_deref(), "{total}");
        }
    }
}
