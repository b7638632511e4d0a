//! `airglass-shim`: container entrypoint. `airglass-shim health` answers the
//! HEALTHCHECK; anything else supervises `airglass` (see `airglass::shim`).

use airglass::shim::{self, Command};

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let code = match Command::parse(args) {
        Command::Health => {
            let settings = match shim::settings::ShimSettings::from_env() {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("unhealthy: {error}");
                    std::process::exit(1);
                }
            };
            let (code, line) = shim::health_report(&settings);
            println!("{line}");
            code
        }
        Command::Run(args) => {
            let filter = std::env::var("AIRGLASS_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "info".to_string());
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .init();
            shim::run(&args)
        }
    };
    std::process::exit(code);
}
