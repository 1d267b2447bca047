//! The integration suite: one binary (each file under tests/ would be another link of
//! the whole server), with a small harness so that every HTTP case runs against SQLite
//! and, when `TEST_DATABASE_URL` names a server, PostgreSQL, and so that skipped
//! PostgreSQL cases are reported as ignored rather than passing silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

// --- Application management and authorized-token pages ---
mod applications;
mod authorized;
// --- Admin pages ---
mod admin;
// --- Playground ---
mod at_rest;
mod audit;
mod authorize;
mod bound_tokens;
mod browser;
mod cli;
mod crash;
mod device;
mod edge;
mod front;
mod hostile;
mod introspection;
mod introspection_policy;
mod jwt;
mod limits;
mod metrics;
mod no_secrets;
mod oidc;
mod playground;
mod posture;
mod protected_resource;
mod refresh;
mod remote;
mod resource;
mod resource_indicators;
mod revocation;
mod scale;
mod serving;
mod token;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use helpers::Backend;
use libtest_mimic::{Arguments, Failed, Trial};

pub type Case = fn(Backend) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Lists test cases as `(name, Case)` pairs.
#[macro_export]
macro_rules! cases {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path), (|b| Box::pin($path(b))) as $crate::Case)),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let postgres = helpers::postgres_url();
    if postgres.is_none() {
        eprintln!("note: TEST_DATABASE_URL is not set: the postgres:: tests are skipped and listed as ignored");
    }
    let runtime =
        Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime"));

    let mut http_cases = Vec::new();
    http_cases.extend(token::cases());
    http_cases.extend(refresh::cases());
    http_cases.extend(revocation::cases());
    http_cases.extend(introspection::cases());
    http_cases.extend(introspection_policy::cases());
    http_cases.extend(resource::cases());
    http_cases.extend(protected_resource::cases());
    http_cases.extend(bound_tokens::cases());
    http_cases.extend(resource_indicators::cases());
    http_cases.extend(at_rest::cases());
    http_cases.extend(front::cases());
    http_cases.extend(authorize::cases());
    http_cases.extend(hostile::cases());
    http_cases.extend(oidc::cases());
    http_cases.extend(jwt::cases());
    http_cases.extend(device::cases());
    http_cases.extend(remote::cases());
    http_cases.extend(serving::cases());
    http_cases.extend(crash::cases());
    http_cases.extend(limits::cases());
    http_cases.extend(edge::cases());
    // --- Application management and authorized-token pages ---
    http_cases.extend(applications::cases());
    http_cases.extend(authorized::cases());
    // --- Admin pages ---
    http_cases.extend(admin::cases());
    // --- Playground ---
    http_cases.extend(playground::cases());
    // --- Metrics ---
    http_cases.extend(metrics::cases());
    // --- Audit log ---
    http_cases.extend(audit::cases());
    http_cases.extend(no_secrets::cases());
    // --- RFC 9207 iss, loopback redirects, RFC 9700 switches ---
    http_cases.extend(posture::cases());

    let mut trials = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let skip = backend == Backend::Postgres && postgres.is_none();
        for (name, case) in &http_cases {
            let (runtime, case) = (runtime.clone(), *case);
            trials.push(
                Trial::test(format!("{}::{}", backend.name(), name), move || run(&runtime, case(backend)))
                    .with_ignored_flag(skip),
            );
        }
        for (name, check) in portcullis::store::conformance::checks() {
            let runtime = runtime.clone();
            trials.push(
                Trial::test(format!("{}::store::{name}", backend.name()), move || {
                    run(&runtime, async move {
                        let (store, _guard) = helpers::fresh_store(backend).await;
                        check(store).await.unwrap();
                    })
                })
                .with_ignored_flag(skip),
            );
        }
    }
    if !browser::available() {
        eprintln!(
            "note: {} or {} is missing: the browser:: tests are listed as ignored",
            browser::CHROMIUM,
            browser::CHROMEDRIVER
        );
    }
    for (name, case) in browser::cases() {
        let runtime = runtime.clone();
        trials.push(
            Trial::test(format!("browser::{name}"), move || run(&runtime, case(Backend::Sqlite)))
                .with_ignored_flag(!browser::available()),
        );
    }
    // Scale-out is PostgreSQL's (several instances on one database), and so are locks
    // another session holds while the server waits.
    let postgres_only = scale::cases().into_iter().map(|(n, c)| (format!("scale::{n}"), c));
    let postgres_only =
        postgres_only.chain(limits::postgres_cases().into_iter().map(|(n, c)| (format!("limits::{n}"), c)));
    for (name, case) in postgres_only {
        let runtime = runtime.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || run(&runtime, case(Backend::Postgres)))
                .with_ignored_flag(postgres.is_none()),
        );
    }
    for (name, case) in cli::cases().into_iter().chain(edge::binary_cases()) {
        let runtime = runtime.clone();
        trials.push(Trial::test(format!("sqlite::{name}"), move || run(&runtime, case(Backend::Sqlite))));
    }

    runtime.block_on(helpers::drop_test_databases());
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(helpers::drop_test_databases());
    conclusion.exit();
}

fn run(runtime: &tokio::runtime::Runtime, test: impl Future<Output = ()>) -> Result<(), Failed> {
    std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(test))).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "test panicked".to_owned());
        Failed::from(message)
    })
}
