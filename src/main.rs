//! The `airglass` receiver binary: parse the configuration, run the app, map errors to exit
//! codes the supervisor shim acts on.

use airglass::app::{App, AppError};
use airglass::config::Config;
use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Exit codes (sysexits-style), documented in the README.
mod exit {
    pub const CONFIG: u8 = 78;
    pub const UNAVAILABLE: u8 = 69;
    pub const INTERNAL: u8 = 70;
}

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|e| {
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
        Ok(()) => ExitCode::SUCCESS,
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

async fn run(config: Config) -> Result<(), AppError> {
    let app = App::start(&config).await?;
    wait_for_signal().await?;
    app.stop().await;
    Ok(())
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
