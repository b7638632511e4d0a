//! The `airglass` receiver binary: parse the configuration, run the app, map errors to exit
//! codes the supervisor shim acts on.

use airglass::app::{App, AppError};
use airglass::config::Config;
use airglass::sender::{self, LiveCallback, LiveStatus};
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// Exit codes (sysexits-style), documented in the README.
mod exit {
    /// `--test-stream` found the receiver unhealthy.
    pub const UNHEALTHY: u8 = 1;
    pub const CONFIG: u8 = 78;
    pub const UNAVAILABLE: u8 = 69;
    pub const INTERNAL: u8 = 70;
}

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(config.effective_log()).unwrap_or_else(|e| {
        eprintln!(
            "airglass: bad --log filter {:?} ({e}); using \"info\"",
            config.log
        );
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .thread_name("airglass")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("airglass: cannot start the runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("airglass: {e}");
            ExitCode::from(match e {
                AppError::Config(_) => exit::CONFIG,
                AppError::Unavailable(_) => exit::UNAVAILABLE,
                AppError::Internal(_) => exit::INTERNAL,
            })
        }
    }
}

async fn run(config: Config) -> Result<u8, AppError> {
    if config.test_stream_seconds().is_some() {
        return test_stream(&config).await;
    }
    let app = App::start(&config).await?;
    wait_for_signal().await?;
    app.stop().await;
    Ok(0)
}

/// `--test-stream`: run it, print the report, 0 when healthy.
async fn test_stream(config: &Config) -> Result<u8, AppError> {
    let live: Option<LiveCallback> = std::io::stderr()
        .is_terminal()
        .then(|| Arc::new(print_live_status) as LiveCallback);
    let report = sender::run_cli(config, live.clone()).await?;
    if live.is_some() {
        eprint!("\r{:79}\r", "");
    }
    if config.test_stream_json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    let _ = std::io::stdout().flush();
    Ok(if report.healthy { 0 } else { exit::UNHEALTHY })
}

fn print_live_status(s: &LiveStatus) {
    let decoded = s
        .frames_decoded
        .map_or_else(String::new, |d| format!(", decoded {d}"));
    let fps = s.frames_sent as f64 / s.elapsed.as_secs_f64().max(1e-3);
    eprint!(
        "\rtest stream {:>5.1}/{:.1} s: sent {}{decoded} ({fps:.1} fps)   ",
        s.elapsed.as_secs_f64(),
        s.duration.as_secs_f64(),
        s.frames_sent
    );
    let _ = std::io::stderr().flush();
}

async fn wait_for_signal() -> Result<(), AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| AppError::Internal(format!("signals: {e}")))?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        r = tokio::signal::ctrl_c() => {
            r.map_err(|e| AppError::Internal(format!("signals: {e}")))?;
            tracing::info!("SIGINT: stopping");
        }
    }
    Ok(())
}
