//! Lockgate's HTTP surfaces: SCIM 2.0 for identity providers, the OAuth 2.0
//! token endpoint that issues SCIM access tokens, and the admin API.
//!
//! The app is a value: [`App::new`] builds it from a store and a config, and
//! [`App::serve`] runs it on any listener, which is how tests start it on
//! port 0 with a database of their own.

mod access;
mod admin;
mod app_api;
mod app_oauth;
mod claim_watch;
mod device;
mod error;
mod limit;
mod oauth;
mod provisioning_log;
mod scim;
mod sso;
mod state;
mod web;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use device::GUESSES_PER_MINUTE;
pub use state::{AppState, ServerConfig};
pub use web::{NewBreakGlass, create_break_glass};

use lockgate_store::{ServerClaim, Store};

use crate::claim_watch::ClaimWatch;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a starting server waits for another one to release the
/// database, long enough for a restarted server's predecessor to exit.
pub const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// A configured Lockgate server.
pub struct App {
    state: AppState,
    log_writer: provisioning_log::Writer,
    claim: Option<ServerClaim>,
}

impl App {
    pub fn new(store: Store, config: ServerConfig) -> App {
        let (sink, log_writer) = provisioning_log::channel(store.clone());
        App {
            state: AppState::new(store, config, sink),
            log_writer,
            claim: None,
        }
    }

    /// Serves under a claim on the database taken beforehand (see
    /// [`Store::claim_server`]), so that a command can fail before it binds
    /// its port. Without one, [`App::serve`] takes the claim itself.
    pub fn with_claim(mut self, claim: ServerClaim) -> App {
        self.claim = Some(claim);
        self
    }

    pub fn router(&self) -> Router {
        let trace =
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                    tenant = tracing::field::Empty,
                )
            });
        Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route("/readyz", axum::routing::get(state::ready))
            .nest("/scim/v2/{tenant}", scim::router(self.state.clone()))
            .nest("/oauth/{tenant}", oauth::router())
            .nest("/admin/v1", admin::router())
            .nest("/device/v1", device::router())
            .nest("/app/v1", app_api::router())
            .merge(web::router())
            .fallback(error::no_route)
            .with_state(self.state.clone())
            .layer(CatchPanicLayer::custom(error::panic_response))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(trace)
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    }

    /// Serves until `shutdown` completes, then drains in-flight requests,
    /// flushes the provisioning log, closes the database and releases the
    /// claim on it.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let claim = match self.claim.take() {
            Some(claim) => claim,
            None => {
                (self.state.store.claim_server(CLAIM_WAIT).await).map_err(std::io::Error::other)?
            }
        };
        let every = self.state.config.claim_check_interval;
        let (watch, claim_taken) = ClaimWatch::spawn(self.state.store.clone(), claim, every);
        let router = self.router();
        let engine = self
            .state
            .access
            .start()
            .await
            .map_err(std::io::Error::other)?;
        let pruning = provisioning_log::spawn_pruning(self.state.clone());
        let lapse = sso::lapse::spawn(self.state.clone());
        // A make-service shares one router between connections. Given the
        // `Router` itself, axum 0.8 rebuilds every route for each connection
        // (`with_state(())`), about 60 KB per open connection.
        //
        // TCP_NODELAY stays off, as axum leaves it, because turning it on made
        // the open-loop p99 worse (docs/benchmarks.md).
        let result = axum::serve(listener, router.into_make_service())
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = claim_taken => {}
                }
            })
            .await;
        pruning.abort();
        engine.abort();
        lapse.abort();
        // A denial gets its response before its record is written.
        self.state.access.audit().flush().await;
        let store = self.state.store.clone();
        drop(self.state);
        self.log_writer.finish().await;
        store.close().await;
        let watched = watch.stop().await?;
        watched.claim.release().await;
        tracing::info!("server stopped");
        if let Some(message) = watched.taken_by {
            return Err(std::io::Error::other(message));
        }
        result
    }
}
