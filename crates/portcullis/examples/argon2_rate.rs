//! How many password checks per second this machine does with nothing else running:
//! the configured Argon2id verification of `password::verify`, on every core at once.
//! The benchmark (bench/bench.py) compares the password grant's rate (W2) with it.
//!
//!     cargo run --release -p portcullis --example argon2_rate -- SECONDS
//!
//! Prints one JSON object: {"verifications_per_sec", "threads", "seconds"}.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10.0);
    let password = "bench-password-123";
    let stored = portcullis::password::hash(password)?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (done, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (done, stop, stored) = (done.clone(), stop.clone(), stored.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if !portcullis::password::verify(password, Some(&stored)) {
                        return Err("the right password did not verify");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| "a worker panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
    println!(r#"{{"verifications_per_sec": {rate:.2}, "threads": {threads}, "seconds": {elapsed:.2}}}"#);
    Ok(())
}
