//! The decay factor 2^(−age / half-life), computed without a libm call.
//!
//! Scoring evaluates one factor per counted ledger entry (about 50 per contact), so `exp2` is a
//! large share of the hot path. This version splits x = n + j/256 + r with |r| ≤ 1/512 and uses
//! a 256-entry table for 2^(j/256) and a degree-4 polynomial for 2^r (truncation error below
//! 4e-17, evaluated in Estrin form for a short dependency chain), within a few ulps of
//! `f64::exp2`. Both `score` and `next_change_at` use it, so
//! they agree exactly.

/// 2^(j/256) for j in 0..256, computed at compile time (Taylor series of e^(j·ln2/256), exact
/// to about an ulp).
static TABLE: [f64; 256] = {
    let mut table = [0.0; 256];
    let mut j = 0;
    while j < 256 {
        let x = j as f64 * std::f64::consts::LN_2 / 256.0;
        let (mut sum, mut term, mut n) = (1.0, 1.0, 1.0);
        while n < 30.0 {
            term = term * x / n;
            sum += term;
            n += 1.0;
        }
        table[j] = sum;
        j += 1;
    }
    table
};

/// Adding then subtracting 1.5·2^52 rounds a float of magnitude below 2^51 to an integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// 2^(−Δ·rate) for an age Δ in milliseconds; an event not yet past (clock skew) counts in full.
#[inline(always)]
pub(crate) fn decay_factor(rate_per_ms: f64, age_ms: i64) -> f64 {
    if rate_per_ms == 0.0 || age_ms <= 0 {
        1.0
    } else {
        exp2_non_positive(-(age_ms as f64) * rate_per_ms)
    }
}

/// [`decay_factor`] for a rate known not to be 0, given as −256 · rate per ms; bit for bit the
/// same value. The age of an event not yet past is clamped to 0 (2^−0 = 1) instead of branched
/// on, and the factor −256 saves a multiplication and a negation per entry (scaling by a power
/// of two is exact, and so is a sign, so Δ·(−256·rate) is the same number as −256·(Δ·rate)).
#[inline(always)]
pub(crate) fn decay_factor_scaled(neg_rate_256_per_ms: f64, age_ms: i64) -> f64 {
    exp2_non_positive_256(age_ms.max(0) as f64 * neg_rate_256_per_ms)
}

/// 2^x for x ≤ 0; 0 below −1022 (the factor of an event older than 1022 half-lives).
#[inline(always)]
fn exp2_non_positive(x: f64) -> f64 {
    exp2_non_positive_256(x * 256.0)
}

/// 2^(x256/256) for x256 ≤ 0; 0 below −1022·256.
#[inline(always)]
fn exp2_non_positive_256(x256: f64) -> f64 {
    // One comparison, false for NaN too.
    if x256 >= -1022.0 * 256.0 {
        exp2_in_range_256(x256)
    } else {
        0.0
    }
}

/// 2^(x256/256) for −1022·256 ≤ x256 ≤ 0.
#[inline(always)]
fn exp2_in_range_256(x256: f64) -> f64 {
    let shifted = x256 + ROUND;
    let k = shifted - ROUND; // nearest integer to 256·x
    // The same integer read from the bits: `shifted` lies in [2^52, 2^53), where one unit of
    // the last place is 1 (cheaper than `k as i64`, which must saturate).
    let ki = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let j = (ki & 255) as usize; // x = n + j/256 + r with n = ki >> 8 ≥ −1022, |r| ≤ 1/512
    let y = (x256 - k) * (std::f64::consts::LN_2 / 256.0); // r · ln 2
    let y2 = y * y;
    // e^y ≈ (1 + y) + y²·((1/2 + y/6) + y²/24)
    let p = (1.0 + y) + y2 * ((0.5 + y * (1.0 / 6.0)) + y2 * (1.0 / 24.0));
    // 2^n · 2^(j/256), by adding n to the exponent of the table entry (in [1, 2), so the
    // result stays a normal number): one integer add instead of building 2^n and multiplying.
    let scaled = TABLE[j].to_bits().wrapping_add(((ki >> 8) << 52) as u64);
    f64::from_bits(scaled) * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libm_within_a_few_ulps() {
        let mut x = 0.0f64;
        while x > -1000.0 {
            let (ours, libm) = (exp2_non_positive(x), x.exp2());
            assert!(
                ((ours - libm) / libm).abs() < 1e-15,
                "2^{x}: {ours} vs {libm}"
            );
            x -= 0.001_237;
        }
        assert_eq!(exp2_non_positive(0.0), 1.0);
        assert_eq!(exp2_non_positive(-1.0), 0.5);
        assert_eq!(exp2_non_positive(-2000.0), 0.0);
    }

    #[test]
    fn a_half_life_halves() {
        let day = 86_400_000;
        let rate = 1.0 / (30.0 * day as f64);
        assert!((decay_factor(rate, 30 * day) - 0.5).abs() < 1e-15);
        assert_eq!(decay_factor(rate, -5), 1.0);
        assert_eq!(decay_factor(0.0, 10 * day), 1.0);
    }

    #[test]
    fn the_scaled_factor_is_the_factor_bit_for_bit() {
        let day = 86_400_000i64;
        for rate in [
            0.0,
            1.0 / (7.0 * day as f64),
            1.0 / (30.0 * day as f64),
            1e-3,
            1.0,
        ] {
            for age in [
                i64::MIN / 2,
                -day,
                -1,
                0,
                1,
                999,
                day,
                45 * day,
                400 * day,
                i64::MAX / 2,
            ] {
                assert_eq!(
                    decay_factor_scaled(-(rate * 256.0), age).to_bits(),
                    decay_factor(rate, age).to_bits(),
                    "rate {rate}, age {age}"
                );
            }
        }
    }
}
