//! The benchmark report: JSON for machines, Markdown for people.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::measure::{Spread, Summary};

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
}

/// A figure of one process: memory, CPU time or start-up time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceRow {
    pub service: String,
    pub figure: String,
    pub value: Spread,
    pub unit: String,
}

impl ResourceRow {
    /// `figure` of `service`: the spread of `values` in `unit`.
    pub fn new(
        service: &str,
        figure: String,
        values: impl IntoIterator<Item = f64>,
        unit: &str,
    ) -> ResourceRow {
        let (service, value, unit) = (service.to_owned(), Spread::of(values), unit.to_owned());
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
    /// Scenario 6, when it ran.
    #[serde(default)]
    pub outage: Option<Outage>,
    /// Scenario 7.
    #[serde(default)]
    pub growth: Vec<crate::growth::GrowthRow>,
    /// The services' CPU profiles, when they were taken.
    #[serde(default)]
    pub profiles: Vec<platform_infra::profile::Hottest>,
    /// How many creates and reads the profiled pass made.
    #[serde(default)]
    pub profiled_operations: usize,
}

/// Scenario 6: how it was shaped, and what each service did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outage {
    pub rate: f64,
    pub run_s: f64,
    pub kill_at_s: f64,
    pub down_for_s: f64,
    pub message_timeout_s: f64,
    pub rows: Vec<crate::outage::OutageRow>,
}

impl Outage {
    pub fn new(shape: crate::outage::Shape, rows: Vec<crate::outage::OutageRow>) -> Outage {
        Outage {
            rate: shape.rate,
            run_s: shape.run.as_secs_f64(),
            kill_at_s: shape.kill_at.as_secs_f64(),
            down_for_s: shape.down_for.as_secs_f64(),
            message_timeout_s: shape.message_timeout.as_secs_f64(),
            rows,
        }
    }
}

/// Where the histograms go, relative to `BENCHMARKS.md`.
pub const PLOT_DIR: &str = "benchmarks";

const REPORT: &str = include_str!("templates/report.md");
const EVIDENCE: &str = include_str!("templates/evidence.md");
const OUTAGE: &str = include_str!("templates/outage.md");
const PROFILES: &str = include_str!("templates/profiles.md");
const PROFILE: &str = include_str!("templates/profile.md");
const GROWTH: &str = include_str!("templates/growth.md");

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

/// The Markdown table rows of `rows`, each a row's cells: the one table
/// writer of every table in the report.
fn table<R: AsRef<[String]>>(rows: impl Iterator<Item = R>) -> String {
    rows.map(|cells| format!("| {} |\n", cells.as_ref().join(" | ")))
        .collect()
}

/// A `## title` section of `header` and `body`, or nothing when `body` is empty.
fn section(title: &str, header: &str, body: String) -> String {
    match body.is_empty() {
        true => body,
        false => format!("\n## {title}\n\n{header}{body}"),
    }
}

fn spread(s: Spread, digits: usize) -> String {
    format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits)
}

fn verdict(met: bool) -> String {
    if met { "met" } else { "**not met**" }.to_owned()
}

impl Report {
    /// The report with how it was made: `command`, now, on this machine.
    pub fn stamped(mut self, command: &str) -> Report {
        self.cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (self.date, self.command) = (chrono::Utc::now().to_rfc3339(), command.to_owned());
        self
    }

    /// Writes `BENCHMARKS.md`, `benchmarks.json` and the histograms to `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir.join(PLOT_DIR))?;
        for histogram in &self.histograms {
            crate::plots::draw(histogram, &dir.join(PLOT_DIR))?;
        }
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(dir.join("benchmarks.json"), json)?;
        let markdown = self.to_markdown();
        Ok(std::fs::write(dir.join("BENCHMARKS.md"), markdown)?)
    }

    /// `BENCHMARKS.md`: `templates/report.md` filled with the tables.
    pub fn to_markdown(&self) -> String {
        let list = |items: &[String]| items.iter().map(|item| format!("- {item}\n")).collect();
        let failures = list(&self.failures);
        let failures = section("Failed scenarios (their figures are missing)", "", failures);
        let resources = self.resources.iter().map(|r| {
            let value = match r.value.min == r.value.max {
                true => format!("{:.1}", r.value.median),
                false => spread(r.value, 1),
            };
            let value = format!("{value} {}", r.unit);
            [r.service.clone(), r.figure.clone(), value]
        });
        let header = "| service | figure | value |\n|---|---|---|\n";
        let resources = section("Resources", header, table(resources));
        let plots = self.histograms.iter();
        let plots = plots.map(|h| format!("![{}]({PLOT_DIR}/{})\n\n", h.title, h.file_name()));
        let (plots, comparisons) = (plots.collect(), self.comparisons.iter().map(comparison_row));
        let evidence = section("Where the time goes", "", self.evidence());
        let template = REPORT.strip_suffix('\n').unwrap_or(REPORT);
        let values = [
            ("command", self.command.clone()),
            ("date", self.date.clone()),
            ("cores", self.cores.to_string()),
            ("failures", failures),
            ("comparisons", table(comparisons)),
            ("resources", resources),
            ("targets", table(self.targets())),
            ("outage", self.outage_section()),
            ("growth", self.growth_section()),
            ("profiles", self.profiles_section()),
            ("evidence", evidence),
            ("capacity", crate::capacity::model(self)),
            ("histograms", section("Latency distributions", "", plots)),
            ("notes", section("Notes", "", list(&self.notes))),
        ];
        fill(template, &values)
    }

    /// Each service's hottest functions, and a link to its flame graph.
    fn profiles_section(&self) -> String {
        let mut body = String::new();
        for profile in &self.profiles {
            let share = |n: i64| 100.0 * n as f64 / profile.samples.max(1) as f64;
            let rows = |list: &[(String, i64)]| {
                let rows = list.iter().take(10).map(|(name, n)| {
                    let mut name = name.replace('|', "\\|").replace('`', "'");
                    if name.chars().count() > 110 {
                        name = name.chars().take(110).chain(['…']).collect();
                    }
                    [format!("`{name}`"), format!("{:.1} %", share(*n))]
                });
                table(rows)
            };
            let values = [
                ("service", profile.service.clone()),
                ("samples", profile.samples.to_string()),
                (
                    "svg",
                    format!("{PLOT_DIR}/profiles/{}.svg", profile.service),
                ),
                ("running", rows(&profile.running)),
                ("on_stack", rows(&profile.on_stack)),
            ];
            body.push_str(&fill(PROFILE, &values));
        }
        let n = self.profiled_operations.to_string();
        let intro = fill(PROFILES, &[("n", n)]);
        section("CPU profiles", &intro, body)
    }

    /// Scenario 7's table, or nothing when it did not run.
    fn growth_section(&self) -> String {
        let rows = self.growth.iter().map(|g| {
            let ms = |v: f64| format!("{v:.2}");
            let (requests, ratio) = (g.requests.to_string(), format!("{:.2}", g.ratio()));
            [
                g.what.clone(),
                requests,
                ms(g.first_ms),
                ms(g.last_ms),
                ratio,
            ]
        });
        section("Latency against history", GROWTH, table(rows))
    }

    /// Scenario 6's table, or nothing when it did not run.
    fn outage_section(&self) -> String {
        let Some(outage) = &self.outage else {
            return String::new();
        };
        let rows = outage.rows.iter().map(|r| {
            let counts = [
                r.requests,
                r.accepted,
                r.refused,
                r.saved,
                r.published,
                r.lost,
            ];
            let counts = counts.map(|n| n.to_string());
            let times = [format!("{:.0}", r.max_ms), format!("{:.1}", r.caught_up_s)];
            [&[r.service.clone()][..], &counts, &times].concat()
        });
        let values = [
            ("rate", format!("{}", outage.rate)),
            ("run", format!("{}", outage.run_s)),
            ("kill_at", format!("{}", outage.kill_at_s)),
            ("down_for", format!("{}", outage.down_for_s)),
            ("timeout", format!("{}", outage.message_timeout_s)),
            ("rows", table(rows)),
        ];
        fill(OUTAGE.strip_suffix('\n').unwrap_or(OUTAGE), &values)
    }

    /// Where the CPU went per change, process by process: the profile behind
    /// the ratios.
    fn evidence(&self) -> String {
        let profile = self.resources.iter().filter_map(|r| {
            let scenario = r.figure.strip_prefix("CPU per change during ")?;
            let cpu = format!("{:.2}", r.value.median);
            let row = [r.service.clone(), scenario.to_owned(), cpu];
            scenario.starts_with("scenario").then_some(row)
        });
        let rows = table(profile);
        match rows.is_empty() {
            true => rows,
            false => fill(EVIDENCE, &[("rows", rows)]),
        }
    }

    /// The targets, each with the figure that decides it.
    fn targets(&self) -> impl Iterator<Item = [String; 3]> {
        // The targets are the services'; the servers' rows are evidence.
        let services = self.resources.iter();
        let services = services.filter(|r| r.service.contains("-domain"));
        let resources = services.filter_map(|r| {
            let (service, figure, median) = (&r.service, &r.figure, r.value.median);
            if figure.starts_with("peak RSS") {
                let target = format!("≤ 20 MB RSS under load ({service}, {figure})");
                let met = verdict(median * 1.048_576 <= 20.0);
                Some([target, format!("{median:.1} MiB"), met])
            } else if figure.starts_with("CPU per change during scenario 1") {
                // Scenario 1 has orders only consume and apply.
                let (name, ceiling) = match service.starts_with("accounts") {
                    true => ("accounts change", 0.25),
                    false => ("orders apply", 0.15),
                };
                let target = format!("≤ {ceiling} ms CPU per {name} ({service}, scenario 1)");
                Some([
                    target,
                    format!("{median:.2} ms"),
                    verdict(median <= ceiling),
                ])
            } else if figure.starts_with("start-to-ready") {
                let target = format!("≤ 0.3 s start-to-ready ({service})");
                Some([target, format!("{median:.0} ms"), verdict(median <= 300.0)])
            } else {
                None
            }
        });
        let comparisons = self.comparisons.iter().filter_map(comparison_target);
        let growth = self.growth.iter().map(|g| {
            let target = format!("latency of the last 100 {} ≤ 1.2× the first 100", g.what);
            let ratio = g.ratio();
            [target, format!("{ratio:.2}×"), verdict(ratio <= 1.2)]
        });
        comparisons.chain(resources).chain(growth)
    }
}

/// A comparison's row: rate, p50 and p99 each of the platform, the baseline
/// and their ratio, then the platform's maximum and the repetitions.
fn comparison_row(c: &Comparison) -> Vec<String> {
    let has_latencies = c.platform.p50_ms.median > 0.0;
    let figure = |figure: fn(&Summary) -> Spread, digits| {
        if digits > 0 && !has_latencies {
            return ["–"; 3].map(str::to_owned);
        }
        let (platform, baseline) = (figure(&c.platform), figure(&c.baseline));
        let ratio = format!("{:.2}", c.ratio(figure));
        [spread(platform, digits), spread(baseline, digits), ratio]
    };
    let throughput = figure(|s| s.throughput, 0);
    let [p50, p99] = [figure(|s| s.p50_ms, 1), figure(|s| s.p99_ms, 1)];
    let max = match has_latencies {
        true => spread(c.platform.max_ms, 1),
        false => "–".to_owned(),
    };
    let names = [
        c.scenario.clone(),
        format!("{} (vs {})", c.variant, c.baseline_name),
    ];
    let end = [max, c.platform.repetitions.to_string()];
    [names.as_slice(), &throughput, &p50, &p99, &end].concat()
}

/// The storage issue's target for a comparison, with the figure that decides
/// it; none where the issue sets none (raw upserts at N=1, the second
/// instances' writes against raw upserts are still held to it).
fn comparison_target(c: &Comparison) -> Option<[String; 3]> {
    let (p50, p99) = (c.ratio(|s| s.p50_ms), c.ratio(|s| s.p99_ms));
    let (scenario, variant, throughput) = (&c.scenario, &c.variant, c.ratio(|s| s.throughput));
    let at_least = |floor: f64| {
        let target = format!("{scenario} ≥ {floor}× {} ({variant})", c.baseline_name);
        let met = verdict(throughput >= floor);
        Some([target, format!("{throughput:.2}×"), met])
    };
    let one_client = variant.starts_with("N=1,");
    match scenario.chars().next() {
        Some('1') if c.baseline_name == crate::NAIVE => {
            at_least(if one_client { 1.0 } else { 0.9 })
        }
        Some('1') if one_client => None,
        Some('1') => at_least(0.6),
        Some('2') if variant.starts_with("saturation") => {
            let target = format!("e2e p50 at saturation ≤ 1.5× raw pipeline ({variant})");
            Some([target, format!("p50 {p50:.2}×"), verdict(p50 <= 1.5)])
        }
        Some('2') => {
            let target = format!("e2e p50 ≤ 1.3× and p99 ≤ 2× raw pipeline ({variant})");
            let met = verdict(p50 <= 1.3 && p99 <= 2.0);
            Some([target, format!("p50 {p50:.2}×, p99 {p99:.2}×"), met])
        }
        _ => at_least(0.8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports recorded as JSON render to the Markdown saved next to them.
    #[test]
    fn recorded_reports_render_to_their_golden_markdown() {
        let full = include_str!("../tests/golden/full.json");
        let empty = include_str!("../tests/golden/empty.json");
        let golden = [
            include_str!("../tests/golden/full.md"),
            include_str!("../tests/golden/empty.md"),
        ];
        for (name, (json, markdown)) in ["full", "empty"]
            .into_iter()
            .zip([full, empty].into_iter().zip(golden))
        {
            let report: Report = serde_json::from_str(json).expect("a report");
            // After a deliberate change of the report: UPDATE_GOLDEN=1.
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                let path = format!("{}/tests/golden/{name}.md", env!("CARGO_MANIFEST_DIR"));
                std::fs::write(path, report.to_markdown()).expect("golden written");
                continue;
            }
            assert_eq!(report.to_markdown(), markdown);
        }
    }
}
