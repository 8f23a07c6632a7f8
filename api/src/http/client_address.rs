//! The client's address, for login throttling and the audit log.
//!
//! It is the socket peer unless the operator says Keel runs behind proxies
//! (`KEEL_TRUST_FORWARDED_FOR`) *and* the peer is one of them (`KEEL_TRUSTED_PROXIES`). Then it
//! is the right-most `X-Forwarded-For` entry that is not a trusted proxy: every proxy appends
//! the address it got the request from, so the entries right of that one were written by
//! proxies Keel trusts, and everything left of it was written by the client and proves nothing.
//! Taking the left-most entry, as Keel once did, let any client pick the address it is
//! throttled and audited as.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::HeaderMap;
use ipnet::IpNet;

/// The header proxies append the address they received a request from to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// How the client address of a request is found.
#[derive(Clone, Debug)]
pub struct ClientAddresses {
    /// The proxies whose `X-Forwarded-For` is believed; `None` believes no header at all.
    trusted: Option<Arc<[IpNet]>>,
}

impl ClientAddresses {
    /// The socket peer, whatever the headers say.
    pub fn peer_only() -> ClientAddresses {
        ClientAddresses { trusted: None }
    }

    /// Behind `proxies`: their `X-Forwarded-For` entries are read right to left, past every
    /// trusted hop. An empty list believes no header.
    pub fn behind(proxies: impl IntoIterator<Item = IpNet>) -> ClientAddresses {
        ClientAddresses { trusted: Some(proxies.into_iter().collect()) }
    }

    /// The address of the client that sent a request from `peer` with `headers`.
    ///
    /// When every forwarded hop is a trusted proxy, the left-most is the client (a caller
    /// inside the proxies' network). An entry that is not an address stops the walk: the
    /// hop right of it, which Keel trusts, is the nearest address known for certain.
    pub fn of(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        let Some(trusted) = &self.trusted else { return peer };
        let is_trusted = |address: IpAddr| trusted.iter().any(|network| network.contains(&address));
        let mut client = peer;
        if !is_trusted(client) {
            return client;
        }
        // A value that is not text reads as one unparsable entry, which ends the walk.
        let hops = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|value| value.to_str().unwrap_or_default().rsplit(','));
        for hop in hops {
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !is_trusted(client) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`203.0.113.7:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    let address = raw.parse::<IpAddr>().or_else(|_| raw.parse::<SocketAddr>().map(|with_port| with_port.ip()));
    address.ok().map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const PEER_PROXY: &str = "10.0.0.2:5000";

    fn behind(proxies: &[&str]) -> ClientAddresses {
        ClientAddresses::behind(proxies.iter().map(|raw| raw.parse::<IpNet>().expect("network")))
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).expect("header value"));
        }
        headers
    }

    fn client(addresses: &ClientAddresses, peer: &str, values: &[&str]) -> String {
        addresses.of(peer.parse().expect("peer"), &forwarded(values)).to_string()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client_whatever_the_client_wrote_left_of_it() {
        let proxies = behind(&["10.0.0.0/8"]);

        assert_eq!(client(&proxies, PEER_PROXY, &["203.0.113.7"]), "203.0.113.7");
        assert_eq!(client(&proxies, PEER_PROXY, &["1.1.1.1, 203.0.113.7"]), "203.0.113.7");
        assert_eq!(client(&proxies, PEER_PROXY, &["6.6.6.6, 1.1.1.1, 203.0.113.7, 10.0.0.9"]), "203.0.113.7");
        assert_eq!(client(&proxies, PEER_PROXY, &["6.6.6.6, 1.1.1.1", "203.0.113.7, 10.1.2.3"]), "203.0.113.7");
    }

    #[test]
    fn the_header_is_ignored_unless_trusted_and_sent_by_a_trusted_proxy() {
        let header = ["203.0.113.7"];

        assert_eq!(client(&ClientAddresses::peer_only(), PEER_PROXY, &header), "10.0.0.2");
        assert_eq!(client(&behind(&["10.0.0.0/8"]), "198.51.100.1:5000", &header), "198.51.100.1");
        assert_eq!(client(&behind(&[]), PEER_PROXY, &header), "10.0.0.2");
        assert_eq!(client(&behind(&["10.0.0.0/8"]), PEER_PROXY, &[]), "10.0.0.2");
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        let proxies = behind(&["10.0.0.0/8", "fd00::/8"]);

        assert_eq!(client(&proxies, PEER_PROXY, &["10.9.9.9, fd00::1"]), "10.9.9.9");
    }

    #[test]
    fn an_unreadable_hop_ends_the_walk_at_the_trusted_hop_right_of_it() {
        let proxies = behind(&["10.0.0.0/8"]);

        assert_eq!(client(&proxies, PEER_PROXY, &["203.0.113.7, unknown, 10.0.0.5"]), "10.0.0.5");
        assert_eq!(client(&proxies, PEER_PROXY, &["203.0.113.7, "]), "10.0.0.2");
    }

    #[test]
    fn hops_with_ports_and_ipv4_mapped_ipv6_read_as_plain_addresses() {
        let proxies = behind(&["10.0.0.0/8", "2001:db8:ffff::/48"]);

        assert_eq!(client(&proxies, PEER_PROXY, &["203.0.113.7:4711"]), "203.0.113.7");
        assert_eq!(client(&proxies, PEER_PROXY, &["[2001:db8::1]:4711"]), "2001:db8::1");
        assert_eq!(client(&proxies, "[::ffff:10.0.0.2]:5000", &["::ffff:203.0.113.7"]), "203.0.113.7");
        assert_eq!(client(&proxies, "[2001:db8:ffff::1]:443", &["2001:db8::7"]), "2001:db8::7");
    }
}
