//! Latency samples, percentiles, and the median-of-repetitions summary.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One run of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Operations completed per second over the run.
    pub throughput: f64,
    /// Latencies in milliseconds: p50, p95, p99, max.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub operations: usize,
    /// Every latency in milliseconds, for the histograms; not in the JSON.
    #[serde(skip)]
    pub samples_ms: Vec<f64>,
}

impl Run {
    /// Summarizes `latencies` of operations that took `elapsed` in all.
    pub fn from_latencies(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            ms(latencies[index.min(latencies.len() - 1)])
        };
        Run {
            throughput: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: latencies.last().copied().map_or(0.0, ms),
            operations: latencies.len(),
            samples_ms: latencies.iter().map(|d| ms(*d)).collect(),
        }
    }

    /// A run measured by its rate alone (no per-operation latency).
    pub fn throughput_only(operations: usize, elapsed: Duration) -> Run {
        Run {
            throughput: operations as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            operations,
            samples_ms: Vec::new(),
        }
    }
}

/// Median, minimum and maximum of one figure over repetitions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return Spread {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Spread {
            median,
            min: values[0],
            max: values[n - 1],
        }
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
        Summary {
            throughput: Spread::of(runs.iter().map(|r| r.throughput)),
            p50_ms: Spread::of(runs.iter().map(|r| r.p50_ms)),
            p95_ms: Spread::of(runs.iter().map(|r| r.p95_ms)),
            p99_ms: Spread::of(runs.iter().map(|r| r.p99_ms)),
            max_ms: Spread::of(runs.iter().map(|r| r.max_ms)),
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
