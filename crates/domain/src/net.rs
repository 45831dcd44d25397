//! Client addresses: CIDR ranges and the rule for believing `X-Forwarded-For`.

use std::net::IpAddr;

/// An IPv4 or IPv6 network in CIDR notation (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `address/prefix` (`10.0.0.0/8`, `2001:db8::/32`) or a bare address, ignoring
    /// surrounding whitespace. Host bits after the prefix are allowed and ignored.
    ///
    /// # Errors
    ///
    /// A message for the user when the address part is not an IPv4 or IPv6 address, or when
    /// the prefix length is not a number from 0 to 32 (IPv4) or 0 to 128 (IPv6).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("`{address}` is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(text) => text
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `address` lies inside this network. An IPv4 address and its IPv4-mapped IPv6
    /// form (`::ffff:a.b.c.d`) are treated as the same address, whichever family the network
    /// was written in.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(net) & mask == u128::from(addr) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(v4)) => self.contains(IpAddr::V6(v4.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(v6)) => {
                v6.to_ipv4_mapped().is_some_and(|v4| self.contains(IpAddr::V4(v4)))
            }
        }
    }
}

/// The one text form of an IP address, so every spelling of an address is the same address
/// wherever it is hashed, compared or exported: IPv6 compressed and in lower case (RFC 5952),
/// an IPv4-mapped IPv6 address as its IPv4 address. `None` when `text` is no address.
pub fn canonical_ip(text: &str) -> Option<String> {
    parse_ip(text).map(|ip| ip.to_canonical().to_string())
}

/// Reads an IP address in any of the spellings clients and proxies send: surrounding
/// whitespace, IPv6 in brackets (`[2001:db8::1]`), with a zone (`fe80::1%eth0`, the zone is
/// dropped: it names an interface of the sender, not another address) or with a port
/// (`203.0.113.9:51234`, `[2001:db8::1]:443`). IPv4 octets with leading zeros are refused (some
/// parsers read them as octal: the address would be ambiguous).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    let unbracketed = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || after.starts_with(':') => inside,
            _ => return None,
        },
        None => text,
    };
    let without_zone = match unbracketed.split_once('%') {
        Some((address, zone)) if !zone.is_empty() && address.contains(':') => address,
        Some(_) => return None,
        None => unbracketed,
    };
    without_zone.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
///
/// `forwarded_for` is the header's value (comma-separated hops, read right to left with
/// [`parse_ip`]); `trusted` lists the proxies' networks. Reading stops at the first hop that
/// is not an address, and the last address read is kept; if every hop is a trusted proxy,
/// the left-most one is the answer. Addresses taken from the header are in canonical form
/// (an IPv4-mapped IPv6 address becomes IPv4).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match parse_ip(hop) {
            Some(ip) => {
                let ip = ip.to_canonical();
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_address_is_one_text() {
        for (spelling, canonical) in [
            ("2001:db8:11:0:0:0:0:b", "2001:db8:11::b"),
            ("2001:DB8:11::B", "2001:db8:11::b"),
            ("2001:0db8:0011:0000:0000:0000:0000:000b", "2001:db8:11::b"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("::ffff:cb00:7109", "203.0.113.9"),
            (" 203.0.113.9 ", "203.0.113.9"),
            ("fe80:0:0:0:0:0:0:1", "fe80::1"),
            ("[2001:db8:11::b]", "2001:db8:11::b"),
            ("[2001:DB8:11:0::B]:443", "2001:db8:11::b"),
            ("fe80::1%eth0", "fe80::1"),
            ("[fe80::1%25en0]", "fe80::1"),
            ("203.0.113.9:51234", "203.0.113.9"),
            ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
            ("0:0:0:0:0:ffff:cb00:7109", "203.0.113.9"),
        ] {
            assert_eq!(canonical_ip(spelling).as_deref(), Some(canonical), "{spelling}");
        }
        for nonsense in
            ["999.1.1.1", "example.invalid", "203.000.113.009", "[2001:db8::1", "1.2.3.4%eth0", ""]
        {
            assert_eq!(canonical_ip(nonsense), None, "{nonsense}");
        }
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("test address")
    }

    #[test]
    fn cidr_membership() {
        let net = IpNet::parse("10.1.0.0/16").expect("valid");
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").expect("valid").contains(ip("8.8.8.8")));
        assert!(IpNet::parse("2001:db8::/32").expect("valid").contains(ip("2001:db8::1")));
        assert!(IpNet::parse("127.0.0.1").expect("valid").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn bad_cidrs_are_refused() {
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("example.com").is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec![IpNet::parse("10.0.0.0/8").expect("valid")];
        let header = Some("198.51.100.7, 203.0.113.9, 10.0.0.2");
        assert_eq!(client_ip(ip("10.0.0.1"), header, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("192.0.2.1"), header, &trusted), ip("192.0.2.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
    }
}
