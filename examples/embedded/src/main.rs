//! Runs the shop: `cargo run -p portcullis-example-embedded`, then open
//! http://127.0.0.1:8080/. Settings from the environment: `SHOP_BIND` (default
//! `127.0.0.1:8080`), `DATABASE_URL` (default `sqlite://shop.db`), and
//! `SHOP_DEMO_PASSWORD`, the password of the demo customer `ada` (id 1001).

use std::process::ExitCode;

use portcullis::config::Config;
use portcullis_example_embedded::{shop, ShopUsers, AUTH_PREFIX};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("SHOP_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let database = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://shop.db".into());
    let password =
        std::env::var("SHOP_DEMO_PASSWORD").map_err(|_| "set SHOP_DEMO_PASSWORD, the demo customer's password")?;
    let mut config = Config::defaults();
    config.oidc.issuer = format!("http://{bind}{AUTH_PREFIX}/o");
    let store = portcullis::store::connect(&database).await?;
    let mut users = ShopUsers::default();
    users.add(1001, "ada", &password)?;
    let shop = shop(config, store, users).await?;
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!("listening on http://{bind}; the provider is at http://{bind}{AUTH_PREFIX}/");
    portcullis::http::server::serve(listener, shop.router, portcullis::http::server::shutdown_signal()).await?;
    Ok(())
}
