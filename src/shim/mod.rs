//! `airglass-shim`: the container entrypoint that supervises the `airglass` receiver.
//!
//! Owns: PID-1 duties (reaping, signal forwarding, exiting with the child's status),
//! restarts with capped exponential backoff, stopping on configuration errors, the
//! `health` subcommand, the balena update lock while mirroring, and the container
//! defaults (state under `/data`, the balena device name as the receiver's name).
//!
//! Layout: [`policy`] decides (pure), [`supervise`] acts (spawn, signals, reaping),
//! [`lock`] and [`health`] hold the two files the shim cares about, [`settings`]
//! reads the environment and [`supervisor_api`] asks the balena Supervisor for the
//! device name.
//!
//! Must not touch: the receiver's internals. The contract is its exit codes, its
//! `AIRGLASS_*` variables and its status file.

pub mod health;
pub mod lock;
pub mod policy;
pub mod settings;
pub mod supervise;
pub mod supervisor_api;

use std::ffi::OsString;

use settings::ShimSettings;

/// Exit status of the shim itself when it cannot start supervising.
pub const EXIT_SHIM_FAILURE: i32 = 70;
/// Exit status for a bad shim setting (same meaning as the receiver's 78).
pub const EXIT_SHIM_CONFIG: i32 = 78;

/// What the shim was asked to do on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Supervise the receiver, passing these arguments to it.
    Run(Vec<OsString>),
    /// Answer the container HEALTHCHECK.
    Health,
}

impl Command {
    /// `airglass-shim health` checks; `airglass-shim run [ARGS..]` and any other
    /// arguments run the receiver with them.
    pub fn parse(args: Vec<OsString>) -> Command {
        match args.first().and_then(|a| a.to_str()) {
            Some("health") if args.len() == 1 => Command::Health,
            Some("run") => Command::Run(args.into_iter().skip(1).collect()),
            _ => Command::Run(args),
        }
    }
}

/// The outcome of `airglass-shim health`: exit status and the line to print.
pub fn health_report(settings: &ShimSettings) -> (i32, String) {
    let verdict = health::check(
        &settings.status_file,
        health::wall_clock_unix_ms(),
        &settings.policy.health,
    );
    match verdict {
        health::Verdict::Healthy => (0, "healthy".to_string()),
        health::Verdict::Unhealthy(reason) => (1, format!("unhealthy: {reason}")),
    }
}

/// Run the supervisor with the process environment; returns the exit status.
pub fn run(args: &[OsString]) -> i32 {
    let settings = match ShimSettings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "bad shim setting");
            return EXIT_SHIM_CONFIG;
        }
    };
    tracing::info!(
        program = %settings.child_program.display(),
        state_dir = %settings.state_dir.display(),
        lock = %settings.lock_path.display(),
        "airglass-shim {} supervising the receiver",
        env!("CARGO_PKG_VERSION")
    );
    match supervise::run(&settings, args) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(%error, "cannot supervise");
            EXIT_SHIM_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_the_command_line() {
        assert_eq!(Command::parse(args(&["health"])), Command::Health);
        assert_eq!(Command::parse(args(&[])), Command::Run(args(&[])));
        assert_eq!(
            Command::parse(args(&["run", "--port", "7000"])),
            Command::Run(args(&["--port", "7000"]))
        );
        assert_eq!(
            Command::parse(args(&["--name", "health"])),
            Command::Run(args(&["--name", "health"]))
        );
        // `health` with more words is a receiver argument list, not the check.
        assert_eq!(
            Command::parse(args(&["health", "x"])),
            Command::Run(args(&["health", "x"]))
        );
    }
}
