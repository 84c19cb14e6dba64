//! What every benchmark binary shares: run only under `cargo bench` (under `cargo test` the
//! binary is built and started too, and must not need the local stack), and unique names.

/// Runs `run` on a multi-threaded runtime when started by `cargo bench`; otherwise says how.
pub fn bench_main<F: std::future::Future<Output = ()>>(name: &str, run: impl FnOnce() -> F) {
    if !std::env::args().any(|a| a == "--bench") {
        println!("{name} benchmark: run with `cargo bench --bench {name}` and the local stack up");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

/// A table or bucket name no earlier run used.
pub fn unique(prefix: &str) -> String {
    format!(
        "fleet-bench-{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}
