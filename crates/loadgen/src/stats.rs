//! Latency samples, percentiles, and the median-of-repetitions summary.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One run of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Operations completed per second over the run.
    pub throughput: f64,
    /// Latencies in milliseconds: p50, p95, p99, max.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Every latency in milliseconds, sorted, for the histograms.
    pub samples_ms: Vec<f64>,
}

impl Run {
    /// Summarizes `latencies` of operations that took `elapsed` in all.
    pub fn from_latencies(latencies: Vec<Duration>, elapsed: Duration) -> Run {
        let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Run {
            throughput: per_second(ms.len(), elapsed),
            p50_ms: quantile(&ms, 0.50),
            p95_ms: quantile(&ms, 0.95),
            p99_ms: quantile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
            samples_ms: ms,
        }
    }

    /// A run measured by its rate alone (no per-operation latency).
    pub fn throughput_only(operations: usize, elapsed: Duration) -> Run {
        let throughput = per_second(operations, elapsed);
        Run {
            throughput,
            ..Run::default()
        }
    }
}

fn per_second(operations: usize, elapsed: Duration) -> f64 {
    operations as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// The value below which `q` of the `sorted` samples lie (0 without samples).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = (sorted.len().saturating_sub(1) as f64 * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Median, minimum and maximum of one figure over repetitions.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (values.first(), values.last()) else {
            return Spread::default();
        };
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Spread { median, min, max }
    }
}

/// The summary of repetitions of one scenario variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub throughput: Spread,
    pub p50_ms: Spread,
    pub p95_ms: Spread,
    pub p99_ms: Spread,
    pub max_ms: Spread,
    pub repetitions: usize,
}

impl Summary {
    pub fn of(runs: &[Run]) -> Summary {
        let spread = |figure: fn(&Run) -> f64| Spread::of(runs.iter().map(figure));
        Summary {
            throughput: spread(|r| r.throughput),
            p50_ms: spread(|r| r.p50_ms),
            p95_ms: spread(|r| r.p95_ms),
            p99_ms: spread(|r| r.p99_ms),
            max_ms: spread(|r| r.max_ms),
            repetitions: runs.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let run = Run::from_latencies(latencies, Duration::from_secs(2));
        assert_eq!(run.throughput, 50.0);
        assert_eq!(run.p50_ms, 51.0);
        assert_eq!(run.p99_ms, 99.0);
        assert_eq!(run.max_ms, 100.0);
        assert_eq!(Spread::of([3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }
}
