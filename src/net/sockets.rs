//! Socket set-up shared by every shell: dual-stack listeners, per-family UDP sockets,
//! TCP keepalive. IPv6 link-local peers keep their scope id because we reuse the peer's
//! `SocketAddr` as received.

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// A peer address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) turned back into IPv4.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// Binds a TCP listener; `::` listens on IPv6 and IPv4 together (IPV6_V6ONLY off), and falls
/// back to `0.0.0.0` where the machine has no IPv6.
pub fn tcp_listener(bind: IpAddr, port: u16) -> io::Result<tokio::net::TcpListener> {
    let std = match bind_tcp(bind, port) {
        Err(e) if bind == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && ipv6_missing(&e) => {
            tracing::warn!("IPv6 is not available here; listening on IPv4 only");
            bind_tcp(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)?
        }
        other => other?,
    };
    tokio::net::TcpListener::from_std(std)
}

fn ipv6_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

fn bind_tcp(bind: IpAddr, port: u16) -> io::Result<std::net::TcpListener> {
    let addr = SocketAddr::new(bind, port);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if bind.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(64)?;
    Ok(socket.into())
}

/// Binds a UDP socket on an ephemeral port in the family of `peer` (so replies and requests
/// travel over the family the sender used).
pub fn udp_for_peer(peer: IpAddr) -> io::Result<tokio::net::UdpSocket> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    if bind.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// A TCP listener on an ephemeral port reachable from `peer` (dual-stack for IPv6 peers).
pub fn tcp_listener_for_peer(peer: IpAddr) -> io::Result<tokio::net::TcpListener> {
    match peer {
        IpAddr::V4(_) => tcp_listener(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => tcp_listener(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Keepalive as UxPlay sets it on the mirror stream: idle 60 s, interval 10 s, 6 probes, so a
/// vanished phone is noticed even when it sent nothing.
pub fn set_keepalive(stream: &tokio::net::TcpStream) -> io::Result<()> {
    let ka = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    SockRef::from(stream).set_tcp_keepalive(&ka)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_unmapped_and_scope_ids_survive() {
        let mapped: SocketAddr = "[::ffff:10.0.0.7]:5000".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.7:5000".parse().unwrap());
        let ll: SocketAddr = "[fe80::1%2]:7000".parse().unwrap();
        let c = canonical(ll);
        match c {
            SocketAddr::V6(v6) => assert_eq!(v6.scope_id(), 2),
            _ => panic!("link-local must stay IPv6"),
        }
    }

    #[tokio::test]
    async fn dual_stack_listener_accepts_both_families() {
        let l = tcp_listener(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).unwrap();
        let port = l.local_addr().unwrap().port();
        let c4 = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (_s4, p4) = l.accept().await.unwrap();
        assert!(canonical(p4).is_ipv4());
        drop(c4);
        if let Ok(c6) = tokio::net::TcpStream::connect(("::1", port)).await {
            let (_s6, p6) = l.accept().await.unwrap();
            assert!(p6.is_ipv6());
            drop(c6);
        }
    }
}
