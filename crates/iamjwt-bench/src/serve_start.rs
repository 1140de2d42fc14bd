//! `iamjwt serve` start → first token: with a fresh state directory (keys generated on start) and restarted on
//! an existing one.

use crate::Error;
use crate::load::{self, LoadConfig};
use crate::server::Server;
use crate::stats::Summary;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct ServeStart {
    pub runs: usize,
    /// Fresh state directory: RSA-2048 and P-256 keys are generated before the first token.
    pub fresh_state_ms: Summary,
    /// Restart on an existing state directory.
    pub existing_state_ms: Summary,
}

async fn first_token(server: &Server) -> Result<(), Error> {
    let cfg = LoadConfig {
        url: server.url.clone(),
        credentials: server.credentials(),
        region: "us-east-1".into(),
        alg: "ES256".into(),
        concurrency: 1,
        duration: Duration::ZERO,
        sample_every: 0,
        server_pid: None,
    };
    let (status, body) = load::fetch_once(&cfg).await?;
    if status == http::StatusCode::OK {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "first token: {status} {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

/// Process start → banner → first signed `GET /token` answered 200; `runs` times each way.
pub async fn run(bin: &Path, runs: usize) -> Result<ServeStart, Error> {
    let (mut fresh, mut existing) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let state = Arc::new(tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?);
        let started = Instant::now();
        let server = Server::start_in(bin, state.clone())?;
        first_token(&server).await?;
        fresh.push(started.elapsed().as_secs_f64() * 1e3);
        drop(server);

        let started = Instant::now();
        let server = Server::start_in(bin, state)?;
        first_token(&server).await?;
        existing.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ServeStart {
        runs,
        fresh_state_ms: Summary::of(fresh),
        existing_state_ms: Summary::of(existing),
    })
}
