//! A sampling CPU profile of the whole process, for `./dev bench`.
//!
//! Built only with the `profiling` feature (pprof-rs, `SIGPROF` sampling at
//! 199 Hz of CPU time). When `PLATFORM_PROFILE_DIR` is set, [`start`] starts
//! the profiler and the returned guard, dropped when the service stops,
//! writes `<dir>/<service>.svg` (a flame graph) and `<dir>/<service>.json`
//! (the hottest functions, by samples in which they were running and in which
//! they were on the stack). Without the feature, a set variable is reported
//! and ignored.

/// Where profiles are written; profiling is off when it is unset.
pub const PROFILE_DIR: &str = "PLATFORM_PROFILE_DIR";

/// The hottest functions of one profile, as written to `<service>.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Hottest {
    pub service: String,
    /// All samples taken.
    pub samples: i64,
    /// Functions by samples in which they were the running one (self time).
    pub running: Vec<(String, i64)>,
    /// The project's own functions by samples in which they were on the stack
    /// (inclusive time).
    pub on_stack: Vec<(String, i64)>,
}

/// How many functions each list of [`Hottest`] keeps.
pub const HOTTEST: usize = 15;

/// Crate prefixes of the project's own functions.
const OWN: [&str; 4] = [
    "accounts_domain::",
    "orders_domain::",
    "platform_infra::",
    "shared_events::",
];

/// Whether `symbol` (a demangled name) is one of the project's functions.
pub fn is_own(symbol: &str) -> bool {
    let symbol = symbol.trim_start_matches('<');
    OWN.iter().any(|prefix| symbol.starts_with(prefix))
}

/// Whether `symbol` belongs to the sampling itself: pprof's signal handler,
/// its unwinder and the kernel's signal trampoline.
pub fn is_profiler(symbol: &str) -> bool {
    let symbol = symbol.trim_start_matches('<');
    ["backtrace::", "pprof::", "__restore_rt"]
        .iter()
        .any(|prefix| symbol.starts_with(prefix))
        || symbol.contains("perf_signal_handler")
}

/// The `HOTTEST` entries of `counts` with the most samples, most first.
pub fn top(counts: std::collections::HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(HOTTEST);
    counts
}

#[cfg(feature = "profiling")]
pub use enabled::{Profile, start};

#[cfg(feature = "profiling")]
mod enabled {
    use std::collections::{HashMap, HashSet};
    use std::path::PathBuf;

    use super::{Hottest, PROFILE_DIR, is_own, is_profiler, top};

    /// A running profile; written when dropped.
    pub struct Profile {
        guard: pprof::ProfilerGuard<'static>,
        dir: PathBuf,
        service: String,
    }

    /// Starts profiling `service` when [`PROFILE_DIR`] is set.
    pub fn start(service: &str) -> Option<Profile> {
        let dir = PathBuf::from(std::env::var_os(PROFILE_DIR)?);
        let builder = pprof::ProfilerGuardBuilder::default().frequency(199);
        // pprof's advice: never unwind inside these while they hold locks.
        let builder = builder.blocklist(&["libc", "libgcc", "pthread", "vdso"]);
        match builder.build() {
            Ok(guard) => Some(Profile {
                guard,
                dir,
                service: service.to_owned(),
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the CPU profiler");
                None
            }
        }
    }

    impl Profile {
        fn write(&self) -> anyhow::Result<()> {
            let report = self.guard.report().build()?;
            std::fs::create_dir_all(&self.dir)?;
            let svg = std::fs::File::create(self.dir.join(format!("{}.svg", self.service)))?;
            report.flamegraph(svg)?;
            let (mut running, mut on_stack) = (HashMap::new(), HashMap::new());
            let mut samples = 0;
            for (frames, &count) in &report.data {
                let count = count as i64;
                samples += count;
                // Innermost frame and symbol first, after the profiler's own
                // (its signal handler taking the sample).
                let symbols = frames.frames.iter().flatten().map(|s| s.name());
                let mut symbols = symbols.skip_while(|s| is_profiler(s));
                if let Some(leaf) = symbols.next() {
                    *running.entry(leaf.clone()).or_default() += count;
                    let stack: HashSet<String> = std::iter::once(leaf).chain(symbols).collect();
                    for own in stack.into_iter().filter(|s| is_own(s)) {
                        *on_stack.entry(own).or_default() += count;
                    }
                }
            }
            let hottest = Hottest {
                service: self.service.clone(),
                samples,
                running: top(running),
                on_stack: top(on_stack),
            };
            let json = serde_json::to_vec_pretty(&hottest)?;
            std::fs::write(self.dir.join(format!("{}.json", self.service)), json)?;
            Ok(())
        }
    }

    impl Drop for Profile {
        fn drop(&mut self) {
            match self.write() {
                Ok(()) => tracing::info!(dir = %self.dir.display(), "CPU profile written"),
                Err(e) => tracing::error!(error = %e, "cannot write the CPU profile"),
            }
        }
    }
}

/// Without the `profiling` feature: nothing to start.
#[cfg(not(feature = "profiling"))]
pub fn start(_service: &str) -> Option<()> {
    if std::env::var_os(PROFILE_DIR).is_some() {
        tracing::warn!(
            "{PROFILE_DIR} is set, but this build has no profiler (feature `profiling`)"
        );
    }
    None
}
