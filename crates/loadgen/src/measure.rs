//! Measurement, written once for the platform and the baselines alike: the
//! two load shapes (concurrent clients, a fixed offered rate), latency
//! percentiles, and the median-of-repetitions summary.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::Result;

/// How operations are offered: by clients that each start their next
/// operation when the previous one ends, or at a fixed rate per second.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    Clients(usize),
    PerSecond(f64),
}

impl std::fmt::Display for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pace::PerSecond(rate) => write!(f, "{rate}/s offered"),
            Pace::Clients(clients) => write!(f, "saturation, {clients} clients"),
        }
    }
}

impl Pace {
    /// Runs `count` operations at this pace (see [`Pace::each`]), each
    /// returning its latency, as a [`Run`].
    pub async fn run<C, F, Fut>(self, count: usize, context: C, op: F) -> Result<Run>
    where
        C: Clone + Send + 'static,
        F: Fn(C, usize) -> Fut + Copy + Send + 'static,
        Fut: Future<Output = Result<Duration>> + Send + 'static,
    {
        let started = Instant::now();
        let latencies = self.each(count, context, op).await?;
        let mut samples_ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        samples_ms.sort_by(f64::total_cmp);
        Ok(Run::new(count, started.elapsed(), samples_ms))
    }

    /// Runs `count` operations at this pace, on tasks of their own, and
    /// returns what each returned (not in order); `op(context, i)` is the
    /// i-th operation, given a clone of `context`.
    pub async fn each<C, F, Fut, T>(self, count: usize, context: C, op: F) -> Result<Vec<T>>
    where
        C: Clone + Send + 'static,
        F: Fn(C, usize) -> Fut + Copy + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let mut tasks: Vec<JoinHandle<Result<Vec<T>>>> = Vec::new();
        match self {
            Pace::Clients(clients) => {
                for client in 0..clients {
                    let context = context.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut outcomes = Vec::new();
                        for i in (client..count).step_by(clients) {
                            outcomes.push(op(context.clone(), i).await?);
                        }
                        Ok(outcomes)
                    }));
                }
            }
            Pace::PerSecond(rate) => {
                let interval = Duration::from_secs_f64(1.0 / rate);
                for i in 0..count {
                    tokio::time::sleep_until((started + interval * i as u32).into()).await;
                    let op = op(context.clone(), i);
                    tasks.push(tokio::spawn(async move { Ok(vec![op.await?]) }));
                }
            }
        }
        let mut outcomes = Vec::with_capacity(count);
        for task in join_all(tasks).await {
            outcomes.extend(task.context("a load task panicked")??);
        }
        Ok(outcomes)
    }
}

/// One run of one scenario variant.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Operations completed per second over the run.
    pub throughput: f64,
    /// Every latency in milliseconds, sorted; none when only the rate counts.
    pub samples_ms: Vec<f64>,
}

impl Run {
    /// A run of `operations` that took `elapsed` in all.
    pub fn new(operations: usize, elapsed: Duration, samples_ms: Vec<f64>) -> Run {
        let throughput = operations as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
        Run {
            throughput,
            samples_ms,
        }
    }
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
        let middle = values.len() / 2;
        let median = match values.len() % 2 {
            1 => values[middle],
            _ => (values[middle - 1] + values[middle]) / 2.0,
        };
        Spread { median, min, max }
    }
}

/// The summary of repetitions of one scenario variant: its rate and its
/// latency percentiles, each over the repetitions.
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
        let latency = |q| Spread::of(runs.iter().map(|run| quantile(&run.samples_ms, q)));
        Summary {
            throughput: Spread::of(runs.iter().map(|run| run.throughput)),
            p50_ms: latency(0.50),
            p95_ms: latency(0.95),
            p99_ms: latency(0.99),
            max_ms: latency(1.0),
            repetitions: runs.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = Summary::of(&[Run::new(100, Duration::from_secs(2), samples)]);
        assert_eq!(summary.throughput.median, 50.0);
        assert_eq!(summary.p50_ms.median, 51.0);
        assert_eq!(summary.p99_ms.median, 99.0);
        assert_eq!(summary.max_ms.median, 100.0);
        assert_eq!(Spread::of([3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }
}
