//! Addresses and ports on 127.0.0.1: a free port, whether one accepts, the `-h/-p` flags
//! for an address, and how long a broker may take to start. Must not start processes.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// `["-h", IP, "-p", PORT]`: the connection flags of `mqtk pub/sub/bench` and
/// mosquitto_pub/sub for a broker (or proxy) at `addr`.
pub fn host_args(addr: SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// How long the harness waits for a broker to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
/// Another process may take it before you bind it: callers that can, retry.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 must work");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
