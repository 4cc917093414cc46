//! Summary statistics over samples (RTTs, schedule errors, benchmark runs):
//! min, mean, max, ping's `mdev`, and nearest-rank percentiles.

/// Summary of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Smallest sample.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Largest sample.
    pub max: f64,
    /// Mean deviation as ping reports it: `sqrt(mean(x²) − mean(x)²)`.
    pub mdev: f64,
    /// Median (50th percentile, nearest rank).
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none (so callers never
    /// divide by zero).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let mean = sorted.iter().sum::<f64>() / count as f64;
        let mean_square = sorted.iter().map(|x| x * x).sum::<f64>() / count as f64;
        Some(Summary {
            count,
            min: sorted[0],
            mean,
            max: sorted[count - 1],
            mdev: (mean_square - mean * mean).max(0.0).sqrt(),
            p50: percentile_of_sorted(&sorted, 50.0),
            p99: percentile_of_sorted(&sorted, 99.0),
        })
    }
}

/// Nearest-rank percentile `p` (0..=100) of samples already sorted ascending.
///
/// # Panics
/// If `sorted` is empty.
pub fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `samples` (the mean of the middle two for an even count);
/// `None` when empty. Used for benchmark medians.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 4.0);
        assert_eq!(s.mean, 2.5);
        assert!((s.mdev - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.p50, 2.0);
        assert_eq!(s.p99, 4.0);
    }

    #[test]
    fn empty_samples_have_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_of_sorted(&sorted, 50.0), 50.0);
        assert_eq!(percentile_of_sorted(&sorted, 99.0), 99.0);
        assert_eq!(percentile_of_sorted(&sorted, 0.0), 1.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
