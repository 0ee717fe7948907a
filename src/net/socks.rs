//! A SOCKS5 proxy between the client and the broker (`--proxy socks5h://…`, as
//! mosquitto's clients): the URL, and the client side of the handshake that asks the
//! proxy for a CONNECT to the broker (RFC 1928), with user name and password when the URL
//! has them (RFC 1929). The proxy resolves the broker's name (`socks5h`). After the
//! handshake the TCP stream is the tunnel: TLS and WebSocket run over it as over any TCP
//! connection. Must not know MQTT.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// SOCKS5's port when the URL gives none (RFC 1928 §3).
const DEFAULT_PORT: u16 = 1080;

/// A parsed `socks5h://[user[:password]@]host[:port]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's host name or address (IPv6 without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// User name and password (RFC 1929), when the URL has a user.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Parses a `--proxy` URL. Only `socks5h://` exists, as in mosquitto: the proxy
    /// resolves the broker's name. `%40`, `%3A` and `%25` in the user or password stand
    /// for `@`, `:` and `%`.
    pub fn parse(url: &str) -> Result<Proxy, String> {
        let Some(rest) = url.strip_prefix("socks5h://") else {
            return Err(format!(
                "unsupported proxy '{url}': give socks5h://[USER[:PASSWORD]@]HOST[:PORT]"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((auth, address)) => {
                let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
                if user.is_empty() {
                    return Err("the proxy URL has an '@' but no user name before it".into());
                }
                (Some((unescape(user)?, unescape(password)?)), address)
            }
            None => (None, rest),
        };
        let (host, port) = split_host_port(address)?;
        if host.is_empty() {
            return Err(format!("no proxy host in '{url}'"));
        }
        Ok(Proxy {
            host,
            port,
            credentials,
        })
    }

    /// `host:port` of the proxy, for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let bad_port = |p: &str| format!("bad proxy port '{p}': give 1-65535");
    let port_of = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad_port(p)),
        Ok(port) => Ok(port),
    };
    if let Some(v6) = address.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(format!("no ']' after the IPv6 address in '{address}'"));
        };
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(format!("unexpected '{after}' after the proxy address")),
        };
        return Ok((host.to_string(), port));
    }
    match address.rsplit_once(':') {
        Some((host, p)) => Ok((host.to_string(), port_of(p)?)),
        None => Ok((address.to_string(), DEFAULT_PORT)),
    }
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3).unwrap_or("");
        out.push(match code.to_ascii_uppercase().as_str() {
            "25" => '%',
            "3A" => ':',
            "40" => '@',
            _ => {
                return Err(format!(
                    "bad escape '%{code}' in the proxy URL (%25, %3A, %40)"
                ))
            }
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Asks the proxy on `tcp` to connect to `host:port` and returns the tunnel. Errors say
/// what the proxy answered ("the proxy refused the user name or password").
pub async fn handshake(
    mut tcp: TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> io::Result<TcpStream> {
    // RFC 1928 §3: version 5, the methods we offer: 0 (none), 2 (user/password).
    let methods: &[u8] = match proxy.credentials {
        Some(_) => &[5, 2, 0, 2],
        None => &[5, 1, 0],
    };
    tcp.write_all(methods).await?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice).await?;
    match choice {
        [5, 0] => {}
        [5, 2] => authenticate(&mut tcp, proxy).await?,
        [5, 0xFF] => return Err(refused("the proxy accepts none of our methods (none, user/password): does it need a user in the URL?")),
        _ => return Err(refused("the proxy does not speak SOCKS5")),
    }
    tcp.write_all(&connect_request(host, port)?).await?;
    read_reply(&mut tcp).await?;
    Ok(tcp)
}

/// RFC 1929: version 1, user, password; the proxy answers status 0 for success.
async fn authenticate(tcp: &mut TcpStream, proxy: &Proxy) -> io::Result<()> {
    let Some((user, password)) = &proxy.credentials else {
        return Err(refused(
            "the proxy wants a user name and password: give socks5h://USER:PASSWORD@HOST",
        ));
    };
    if user.len() > 255 || password.len() > 255 {
        return Err(refused(
            "the proxy user name and password must be at most 255 bytes",
        ));
    }
    let mut request = vec![1, user.len() as u8];
    request.extend_from_slice(user.as_bytes());
    request.push(password.len() as u8);
    request.extend_from_slice(password.as_bytes());
    tcp.write_all(&request).await?;
    let mut status = [0u8; 2];
    tcp.read_exact(&mut status).await?;
    if status[1] != 0 {
        return Err(refused("the proxy refused the user name or password"));
    }
    Ok(())
}

/// RFC 1928 §4: CONNECT to an IPv4/IPv6 address, or a domain name the proxy resolves.
fn connect_request(host: &str, port: u16) -> io::Result<Vec<u8>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut request = vec![5, 1, 0];
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) if bare.len() <= 255 => {
            request.extend_from_slice(&[3, bare.len() as u8]);
            request.extend_from_slice(bare.as_bytes());
        }
        Err(_) => {
            return Err(refused(
                "the broker's host name is longer than SOCKS5's 255 bytes",
            ))
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// Reads the CONNECT reply and the bound address that follows it.
async fn read_reply(tcp: &mut TcpStream) -> io::Result<()> {
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(refused("the proxy does not speak SOCKS5"));
    }
    if head[1] != 0 {
        return Err(refused(&format!(
            "the proxy could not connect: {}",
            reply_text(head[1])
        )));
    }
    let skip = match head[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(tcp.read_u8().await?),
        _ => return Err(refused("the proxy sent an unknown address type")),
    };
    let mut rest = vec![0u8; skip + 2];
    tcp.read_exact(&mut rest).await?;
    Ok(())
}

/// RFC 1928 §6: the reply field.
fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

fn refused(text: &str) -> io::Error {
    io::Error::other(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_mosquitto_reads_them() {
        let p = Proxy::parse("socks5h://proxy.example").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials),
            ("proxy.example", 1080, None)
        );
        let p = Proxy::parse("socks5h://al%40ice:pa%3Ass@127.0.0.1:9050").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 9050));
        assert_eq!(p.credentials, Some(("al@ice".into(), "pa:ss".into())));
        let p = Proxy::parse("socks5h://[::1]:1081").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.address()),
            ("::1", 1081, "[::1]:1081".into())
        );
        for bad in [
            "socks5://h",
            "http://h",
            "socks5h://h:0",
            "socks5h://:pw@h",
            "socks5h://",
        ] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connect_requests_carry_names_and_addresses() {
        assert_eq!(
            connect_request("127.0.0.1", 1883).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0x07, 0x5B]
        );
        assert_eq!(
            connect_request("ab", 1).unwrap(),
            [5, 1, 0, 3, 2, b'a', b'b', 0, 1]
        );
        assert_eq!(connect_request("[::1]", 1).unwrap()[3], 4);
    }
}
