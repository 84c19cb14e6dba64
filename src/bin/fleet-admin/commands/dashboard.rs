//! `dashboard`: serves the live page of `fleet::admin::dashboard` until Ctrl-C or SIGTERM. The
//! URL goes to stdout first, so that a script started with `--port 0` can read the port.

use super::Ctx;
use anyhow::{Context, Result};
use fleet::admin::dashboard::{Dashboard, Settings};
use fleet::admin::report::Pricing;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(
    ctx: &Ctx,
    bind: &str,
    port: u16,
    refresh: u64,
    price_per_hour: f64,
    slots_per_instance: u32,
) -> Result<ExitCode> {
    // A wrong table fails here, on the command line, not as a banner on the page.
    fleet::admin::require_table(&ctx.ddb, &ctx.table).await?;
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .with_context(|| format!("cannot listen on {bind}:{port}"))?;
    let addr = listener.local_addr()?;
    println!("dashboard: http://{addr}/");
    let settings = Settings {
        table: ctx.table.clone(),
        refresh: Duration::from_secs(refresh.max(1)),
        pricing: Pricing {
            per_instance_hour: price_per_hour,
            slots_per_instance,
        },
    };
    let dash = Dashboard::new(settings, ctx.ddb.clone(), ctx.store.clone(), ctx.s3());
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    dash.serve(listener, shutdown)
        .await
        .context("serving the dashboard")?;
    Ok(ExitCode::SUCCESS)
}

/// Cancels `token` on SIGINT or SIGTERM (a service manager stops it with the latter).
async fn cancel_on_signal(token: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    token.cancel();
}
