//! `dashboard`: the fleet in a browser, served by `fleet-admin dashboard`.
//!
//! ```text
//!   refresher (every --refresh s) ── parallel Scan + registry ──▶ Live { report, history }
//!   GET /api/report, /api/history ◀── the last good snapshot (never a Scan per request)
//!   GET /hls/<pk>/<path> ── done video's out_bucket/out_prefix ──▶ S3 GetObject, streamed
//!   GET /, /app.js, /hls.min.js ◀── compiled into the binary (no build step, no CDN)
//! ```
//!
//! The page polls the two JSON routes; the player loads `/hls/<pk>/master.m3u8` through the
//! proxy, so the master's relative URIs resolve through it too. A proxy rather than presigned
//! URLs: no CORS rules on the output bucket, and the same code works against Garage or MinIO.

mod hls;
mod live;

pub use hls::ProxyError;
pub use live::{Sample, HISTORY_CAP};

use crate::admin::report::Pricing;
use crate::store::dynamo::DynamoStore;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use live::Live;
use serde::Deserialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the dashboard reads and how often.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The table of videos.
    pub table: String,
    /// Time between two snapshots: each costs one full Scan, so this is the price knob.
    pub refresh: Duration,
    /// For the report's cost lines.
    pub pricing: Pricing,
}

/// The server's shared state: clients and the last snapshot.
pub struct Dashboard {
    settings: Settings,
    /// For the Scan.
    ddb: aws_sdk_dynamodb::Client,
    /// For the worker registry and the proxy's look-up of a video not yet in a snapshot.
    store: DynamoStore,
    /// Reads the output bucket for the proxy.
    s3: aws_sdk_s3::Client,
    /// Written only by the refresher; a std lock because no holder ever awaits.
    live: RwLock<Live>,
}

impl Dashboard {
    /// A dashboard with no snapshot yet (the refresher takes the first at once).
    pub fn new(
        settings: Settings,
        ddb: aws_sdk_dynamodb::Client,
        store: DynamoStore,
        s3: aws_sdk_s3::Client,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            ddb,
            store,
            s3,
            live: RwLock::new(Live::default()),
        })
    }

    /// The routes, over `self`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/app.js", get(app_js))
            .route("/hls.min.js", get(hls_js))
            .route("/api/report", get(report))
            .route("/api/history", get(history))
            .route("/hls/{pk}/{*path}", get(hls::proxy))
            .with_state(self.clone())
    }

    /// Serves on `listener` and refreshes in the background until `shutdown` is cancelled.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let refresher = tokio::spawn(self.clone().refresh_loop(shutdown.clone()));
        let res = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await;
        shutdown.cancel();
        let _ = refresher.await;
        res
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HTML)], include_str!("index.html"))
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, JS)], include_str!("app.js"))
}

async fn hls_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, JS),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("hls.min.js"),
    )
}

/// The last good report, with `stale_error` set while refreshes fail, and `refresh_s` so the
/// page polls no faster than the data changes.
async fn report(State(d): State<Arc<Dashboard>>, Query(q): Query<Page>) -> impl IntoResponse {
    let view = d
        .live
        .read()
        .expect("not poisoned")
        .view(&d.settings, q.done_page.unwrap_or(0));
    ([(header::CACHE_CONTROL, "no-store")], Json(view))
}

#[derive(Debug, Deserialize)]
struct Page {
    /// Which page of done videos (0 first).
    done_page: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Since {
    /// Only samples taken after this time (ms): the page asks for what it has not drawn.
    since: Option<i64>,
}

async fn history(State(d): State<Arc<Dashboard>>, Query(q): Query<Since>) -> impl IntoResponse {
    let samples = d
        .live
        .read()
        .expect("not poisoned")
        .samples_since(q.since.unwrap_or(i64::MIN));
    ([(header::CACHE_CONTROL, "no-store")], Json(samples))
}
