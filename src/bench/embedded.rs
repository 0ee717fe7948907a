//! The embedded default of `mqtk bench`: with no `-h`/`-L`, `mqtk serve`'s broker runs in
//! this process on 127.0.0.1 and a free port, on a runtime of its own whose threads are
//! named `mqtk-broker`, so the report can keep the broker's CPU time apart from the
//! bench's. Must not measure: it starts and stops the broker.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

use crate::broker::{self, BrokerConfig, RunningBroker};

/// Name prefix of the embedded broker's threads.
pub const THREAD_PREFIX: &str = "mqtk-broker";

/// A broker running in this process.
pub struct Embedded {
    runtime: tokio::runtime::Runtime,
    broker: RunningBroker,
}

impl Embedded {
    /// Starts the broker with `mqtk serve`'s defaults on 127.0.0.1, port 0.
    pub fn start() -> anyhow::Result<Embedded> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(THREAD_PREFIX)
            .build()
            .context("cannot start the embedded broker's runtime")?;
        let config = BrokerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..BrokerConfig::default()
        };
        let broker = runtime
            .block_on(broker::start(config))
            .context("cannot start the embedded broker")?;
        Ok(Embedded { runtime, broker })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.broker.local_addr()
    }

    /// Stops it (bounded) and its runtime.
    pub fn stop(self) {
        let Embedded { runtime, broker } = self;
        let _ = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), broker.shutdown()).await
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
