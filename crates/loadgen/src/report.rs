//! The benchmark report: JSON for machines, Markdown for people.

use serde::{Deserialize, Serialize};

use crate::stats::{Spread, Summary};

/// One scenario variant measured side by side with its baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub scenario: String,
    pub variant: String,
    pub platform: Summary,
    pub baseline_name: String,
    pub baseline: Summary,
}

impl Comparison {
    /// Platform ÷ baseline of the medians of one figure (0 without a baseline).
    pub fn ratio(&self, figure: fn(&Summary) -> Spread) -> f64 {
        let (platform, baseline) = (figure(&self.platform), figure(&self.baseline));
        if baseline.median == 0.0 {
            return 0.0;
        }
        platform.median / baseline.median
    }

    fn has_latencies(&self) -> bool {
        self.platform.p50_ms.median > 0.0
    }
}

/// A figure of one service: memory or start-up time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceRow {
    pub service: String,
    pub figure: String,
    pub value: Spread,
    pub unit: String,
}

impl ResourceRow {
    pub fn new(
        service: &str,
        figure: String,
        values: impl IntoIterator<Item = f64>,
        unit: &str,
    ) -> ResourceRow {
        let (service, unit) = (service.to_owned(), unit.to_owned());
        let value = Spread::of(values);
        ResourceRow {
            service,
            figure,
            value,
            unit,
        }
    }
}

/// Latency samples of one variant, platform and baseline, for a histogram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histogram {
    pub title: String,
    #[serde(skip)]
    pub platform: Vec<f64>,
    pub baseline_name: String,
    #[serde(skip)]
    pub baseline: Vec<f64>,
}

impl Histogram {
    /// The SVG's file name, from the title.
    pub fn file_name(&self) -> String {
        let words = self.title.to_ascii_lowercase();
        let words = words.replace(|c: char| !c.is_ascii_alphanumeric(), " ");
        format!(
            "{}.svg",
            words.split_whitespace().collect::<Vec<_>>().join("-")
        )
    }
}

/// Everything one benchmark run measured, including what failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub cores: usize,
    pub notes: Vec<String>,
    /// Scenarios that failed, with why; their figures are missing.
    pub failures: Vec<String>,
    pub comparisons: Vec<Comparison>,
    pub resources: Vec<ResourceRow>,
    pub histograms: Vec<Histogram>,
}

/// Where the histograms go, relative to `BENCHMARKS.md`.
pub const PLOT_DIR: &str = "benchmarks";

const REPORT: &str = include_str!("templates/report.md");
const EVIDENCE: &str = include_str!("templates/evidence.md");

/// `template` with every `{name}` that `values` names replaced by its value,
/// in one pass: values are never searched for placeholders.
pub(crate) fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut pieces = template.split('{');
    let mut out = pieces.next().unwrap_or_default().to_owned();
    for piece in pieces {
        let named = piece.split_once('}').and_then(|(name, rest)| {
            let (_, value) = values.iter().find(|(n, _)| *n == name)?;
            Some((value, rest))
        });
        match named {
            Some((value, rest)) => out.extend([value.as_str(), rest]),
            None => out.extend(["{", piece]),
        }
    }
    out
}

/// One line per row.
fn lines(rows: impl Iterator<Item = String>) -> String {
    rows.map(|row| row + "\n").collect()
}

/// A `## title` section, or nothing when `body` is empty.
fn section(title: &str, body: String) -> String {
    if body.is_empty() {
        return body;
    }
    format!("\n## {title}\n\n{body}")
}

fn spread(s: Spread, digits: usize) -> String {
    format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

impl Report {
    /// `BENCHMARKS.md`: `templates/report.md` filled with the tables.
    pub fn to_markdown(&self) -> String {
        let list = |items: &[String]| lines(items.iter().map(|item| format!("- {item}")));
        let plots = self
            .histograms
            .iter()
            .map(|h| format!("![{}]({PLOT_DIR}/{})\n", h.title, h.file_name()));
        let failures = "Failed scenarios (their figures are missing)";
        fill(
            REPORT.strip_suffix('\n').unwrap_or(REPORT),
            &[
                ("command", self.command.clone()),
                ("date", self.date.clone()),
                ("cores", self.cores.to_string()),
                ("failures", section(failures, list(&self.failures))),
                (
                    "comparisons",
                    lines(self.comparisons.iter().map(comparison_row)),
                ),
                ("resources", section("Resources", self.resources_table())),
                ("targets", self.targets()),
                ("evidence", section("Where the time goes", self.evidence())),
                ("capacity", crate::capacity::model(self)),
                ("histograms", section("Latency distributions", lines(plots))),
                ("notes", section("Notes", list(&self.notes))),
            ],
        )
    }

    fn resources_table(&self) -> String {
        let rows = lines(self.resources.iter().map(|r| {
            let value = if r.value.min == r.value.max {
                format!("{:.1}", r.value.median)
            } else {
                spread(r.value, 1)
            };
            format!("| {} | {} | {value} {} |", r.service, r.figure, r.unit)
        }));
        if rows.is_empty() {
            return rows;
        }
        format!("| service | figure | value |\n|---|---|---|\n{rows}")
    }

    /// Where the CPU went per change, process by process: the profile behind
    /// the ratios.
    fn evidence(&self) -> String {
        let prefix = "CPU per change during ";
        let rows = lines(
            self.resources
                .iter()
                .filter(|r| r.figure.starts_with("CPU per change during scenario"))
                .map(|r| {
                    let scenario = r.figure.trim_start_matches(prefix);
                    format!("| {} | {scenario} | {:.2} |", r.service, r.value.median)
                }),
        );
        if rows.is_empty() {
            return rows;
        }
        fill(EVIDENCE, &[("rows", rows)])
    }

    /// The targets, each with the figure that decides it.
    fn targets(&self) -> String {
        // The targets are the services'; the servers' rows are evidence.
        let services = self
            .resources
            .iter()
            .filter(|r| r.service.contains("-domain"));
        let resources = services.filter_map(|r| {
            let (service, median) = (&r.service, r.value.median);
            if r.figure.starts_with("peak RSS") {
                let met = verdict(median * 1.048_576 <= 20.0);
                let figure = &r.figure;
                Some(format!(
                    "| ≤ 20 MB RSS under load ({service}, {figure}) | {median:.1} MiB | {met} |"
                ))
            } else if r.figure.starts_with("start-to-ready") {
                let met = verdict(median <= 300.0);
                Some(format!(
                    "| ≤ 0.3 s start-to-ready ({service}) | {median:.0} ms | {met} |"
                ))
            } else {
                None
            }
        });
        lines(
            self.comparisons
                .iter()
                .map(comparison_target)
                .chain(resources),
        )
    }
}

fn comparison_row(c: &Comparison) -> String {
    let latency = |figure: fn(&Summary) -> Spread| {
        if !c.has_latencies() {
            return "– | – | –".to_owned();
        }
        let (platform, baseline) = (figure(&c.platform), figure(&c.baseline));
        format!(
            "{} | {} | {:.2}",
            spread(platform, 1),
            spread(baseline, 1),
            c.ratio(figure)
        )
    };
    let max = if c.has_latencies() {
        spread(c.platform.max_ms, 1)
    } else {
        "–".to_owned()
    };
    format!(
        "| {} | {} (vs {}) | {} | {} | {:.2} | {} | {} | {max} | {} |",
        c.scenario,
        c.variant,
        c.baseline_name,
        spread(c.platform.throughput, 0),
        spread(c.baseline.throughput, 0),
        c.ratio(|s| s.throughput),
        latency(|s| s.p50_ms),
        latency(|s| s.p99_ms),
        c.platform.repetitions,
    )
}

fn comparison_target(c: &Comparison) -> String {
    let (p50, p99) = (c.ratio(|s| s.p50_ms), c.ratio(|s| s.p99_ms));
    let throughput = c.ratio(|s| s.throughput);
    let (scenario, variant) = (&c.scenario, &c.variant);
    if scenario.starts_with('2') {
        let met = verdict(p50 <= 1.3 && p99 <= 2.0);
        format!(
            "| e2e p50 ≤ 1.3× and p99 ≤ 2× raw pipeline ({variant}) | p50 {p50:.2}×, p99 {p99:.2}× | {met} |"
        )
    } else {
        let met = verdict(throughput >= 0.8);
        format!("| {scenario} ≥ 0.8× baseline ({variant}) | {throughput:.2}× | {met} |")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports recorded as JSON render to the Markdown saved next to them.
    #[test]
    fn recorded_reports_render_to_their_golden_markdown() {
        for (json, markdown) in [
            (
                include_str!("../tests/golden/full.json"),
                include_str!("../tests/golden/full.md"),
            ),
            (
                include_str!("../tests/golden/empty.json"),
                include_str!("../tests/golden/empty.md"),
            ),
        ] {
            let report: Report = serde_json::from_str(json).expect("a report");
            assert_eq!(report.to_markdown(), markdown);
        }
    }
}
