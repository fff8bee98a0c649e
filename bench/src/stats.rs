//! Sample statistics and the wall clock the kernel's receive timestamps are on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The percentiles each run's curve is plotted at.
const PLOTTED: [f64; 10] = [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9];

/// The value at quantile `p` (0 to 1) of a sorted sample, by nearest rank; NaN for an empty sample.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a rank within 0..len"
)]
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round();
    sorted[rank as usize]
}

/// The latency at each plotted percentile of a sorted sample: (percentile, ms).
pub fn percentiles(sorted: &[f64]) -> Vec<(f64, f64)> {
    PLOTTED
        .iter()
        .map(|&p| (p, percentile(sorted, p / 100.0)))
        .collect()
}

/// The wall clock as time since the Unix epoch: the kernel's receive timestamps are on this clock.
pub fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `later - earlier` in milliseconds.
pub fn millis_between(earlier: Duration, later: Duration) -> f64 {
    (later.as_secs_f64() - earlier.as_secs_f64()) * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank_of_a_sorted_sample() {
        let sample = [1.0, 2.0, 3.0, 4.0, 5.0];
        for (p, expected, description) in [
            (0.0, 1.0, "the minimum"),
            (0.5, 3.0, "the median"),
            (0.99, 5.0, "p99 of five rounds up to the maximum"),
            (1.0, 5.0, "the maximum"),
        ] {
            assert_eq!(percentile(&sample, p), expected, "{description}");
        }
        assert!(
            percentile(&[], 0.5).is_nan(),
            "an empty sample has no percentile"
        );
    }

    #[test]
    fn millis_between_is_signed() {
        let (a, b) = (Duration::from_millis(1500), Duration::from_millis(1750));
        assert_eq!(millis_between(a, b), 250.0);
        assert_eq!(millis_between(b, a), -250.0);
    }
}
