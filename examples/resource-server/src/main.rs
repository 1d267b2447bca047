//! The photo-sharing API as a process: settings from the environment, then serve until
//! Ctrl-C. See the crate documentation and README.md.

use std::io::IsTerminal;
use std::process::ExitCode;

use portcullis_example_resource_server::{api, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    let listener = match tokio::net::TcpListener::bind(settings.bind).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {} (PHOTOS_BIND): {error}", settings.bind)),
    };
    // The settings print without the client secret.
    tracing::info!(verification = ?settings.verification, "listening on http://{}", settings.bind);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    };
    match axum::serve(listener, api(settings.verifier())).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// One line on stderr, as the `portcullis` command reports its errors.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}
