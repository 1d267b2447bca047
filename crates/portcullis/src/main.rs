use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

// The server makes many small, short-lived allocations per request, which glibc's
// malloc serves markedly slower than mimalloc.
// Built without transparent huge pages (`no_thp`): with them, a fresh process held a
// 10 MiB huge page and idled at 22 MiB instead of 13. Only the binary chooses an
// allocator; applications that embed the library keep their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    portcullis::cli::run().await
}
