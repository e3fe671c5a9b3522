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
        let index = ((s / width).floor().max(0.0) as usize).min(BUCKETS - 1);
        counts[index] += 1;
    }
    counts
}

/// Writes `histogram` to `dir/<its file name>`.
pub fn draw(histogram: &Histogram, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(histogram.file_name());
    let mut all = [histogram.platform.clone(), histogram.baseline.clone()].concat();
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
        .unwrap_or(1)
        .max(1);

    let root = SVGBackend::new(&path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&histogram.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..width * BUCKETS as f64, 0u32..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("latency, ms (last bucket: everything beyond)")
        .y_desc("changes")
        .draw()?;
    for (counts, color, name) in [
        (&platform, BLUE, "platform".to_owned()),
        (&baseline, RED, histogram.baseline_name.clone()),
    ] {
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &count)| {
                let x0 = i as f64 * width;
                Rectangle::new([(x0, 0), (x0 + width, count)], color.mix(0.45).filled())
            }))?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.45).filled())
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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

    #[test]
    fn draws_an_svg_with_both_series() {
        let dir = std::env::temp_dir().join(crate::unique("plots"));
        std::fs::create_dir_all(&dir).expect("dir");
        let histogram = Histogram {
            title: "2 test, 50/s".to_owned(),
            platform: vec![1.0, 2.0, 2.5, 9.0],
            baseline_name: "raw".to_owned(),
            baseline: vec![0.5, 1.0, 1.5],
        };
        draw(&histogram, &dir).expect("drawn");
        let svg = std::fs::read_to_string(dir.join("2-test-50-s.svg")).expect("written");
        assert!(svg.contains("<svg") && svg.contains("platform") && svg.contains("raw"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
