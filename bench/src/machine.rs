//! What the figures were measured on.

/// Cores, CPU model and compiler of this run.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `rustc --version` of the compiler that built this program.
    pub rustc: &'static str,
}

impl Machine {
    /// This machine.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            rustc: env!("BENCH_RUSTC_VERSION"),
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "{} cores, {} (from /proc/cpuinfo), {}",
            self.cores, self.cpu, self.rustc
        )
    }
}
