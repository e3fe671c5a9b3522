//! Latency histograms as SVG (plotters), one per measured variant: the
//! platform and its raw baseline overlaid on the same axes.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::report::Histogram;

const BUCKETS: usize = 40;

/// Counts of `samples` in `BUCKETS` buckets of `width` ms from 0; samples beyond
/// the last bucket are counted in it.
fn bucket_counts(samples: &[f64], width: f64) -> Vec<u32> {
    let mut counts = vec![0u32; BUCKETS];
    for &s in samples {
        counts[((s / width).floor().max(0.0) as usize).min(BUCKETS - 1)] += 1;
    }
    counts
}

/// Writes `histogram` to `dir/<its file name>`.
pub fn draw(histogram: &Histogram, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(histogram.file_name());
    let mut all = [histogram.platform.as_slice(), &histogram.baseline].concat();
    all.sort_by(f64::total_cmp);
    // Up to the 99th percentile of both: the tail would squash the body; the
    // last bucket holds everything beyond.
    let width = (crate::measure::quantile(&all, 0.99) / BUCKETS as f64).max(0.01);
    let platform = bucket_counts(&histogram.platform, width);
    let baseline = bucket_counts(&histogram.baseline, width);
    let top = platform
        .iter()
        .chain(&baseline)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let root = SVGBackend::new(&path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&histogram.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..width * BUCKETS as f64, 0u32..top + top / 10 + 1)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("latency, ms (last bucket: everything beyond)");
    mesh.y_desc("changes").draw()?;
    let series = [
        ("platform", &platform, BLUE),
        (&histogram.baseline_name, &baseline, RED),
    ];
    for (name, counts, color) in series {
        let style = color.mix(0.45).filled();
        let bars = counts.iter().enumerate().map(|(i, &count)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width, count)], style)
        });
        let legend = move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], style);
        chart.draw_series(bars)?.label(name).legend(legend);
    }
    let mut labels = chart.configure_series_labels();
    labels
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fall_into_their_buckets_and_the_tail_into_the_last() {
        let counts = bucket_counts(&[0.0, 0.5, 1.0, 2.5, 1000.0], 1.0);
        assert_eq!(&counts[..3], &[2, 1, 1]);
        assert_eq!(counts[BUCKETS - 1], 1);
        assert_eq!(counts.iter().sum::<u32>(), 5);
    }
}
