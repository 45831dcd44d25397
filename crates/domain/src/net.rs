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

/// Whether `address` is an ordinary public unicast address that an outbound call (a postback,
/// a webhook) may reach. Refused: unspecified, loopback, private (RFC 1918, IPv6 ULA),
/// shared/CGNAT (100.64.0.0/10), link-local (169.254.0.0/16 with the cloud metadata address,
/// fe80::/10), IETF special-purpose, documentation and benchmarking ranges, multicast,
/// broadcast and reserved space — per the IANA special-purpose address registries (RFC 6890).
/// IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96,
/// 6to4 2002::/16) are judged by the embedded address; local-use NAT64 (64:ff9b:1::/48),
/// Teredo (2001::/32) and any IPv6 address outside global unicast (2000::/3) are refused.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let segments = v6.segments();
            // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96) forms.
            if bits >> 32 == 0xffff || (bits >> 32 == 0 && bits > 1) {
                return is_public_v4(std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32));
            }
            // NAT64: the well-known prefix 64:ff9b::/96 carries the IPv4 address in its low 32
            // bits; the local-use 64:ff9b:1::/48 may place it elsewhere, so it is refused.
            if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
                return is_public_v4(std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32));
            }
            if segments[..3] == [0x64, 0xff9b, 1] {
                return false;
            }
            // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
            if segments[0] == 0x2002 {
                let embedded = (u32::from(segments[1]) << 16) | u32::from(segments[2]);
                return is_public_v4(std::net::Ipv4Addr::from(embedded));
            }
            let global_unicast = segments[0] & 0xe000 == 0x2000;
            // 2001::/23 holds IETF protocol assignments (Teredo 2001::/32, benchmarking
            // 2001:2::/48, ORCHID…); 2001:db8::/32 is documentation; 3fff::/20 too (RFC 9637).
            let special = segments[0] == 0x2001 && segments[1] < 0x0200
                || segments[..2] == [0x2001, 0x0db8]
                || segments[0] == 0x3fff && segments[1] < 0x1000;
            global_unicast && !special
        }
    }
}

fn is_public_v4(address: std::net::Ipv4Addr) -> bool {
    const REFUSED: [(u32, u8); 16] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0a00_0000, 8),  // 10.0.0.0/8 private
        (0x6440_0000, 10), // 100.64.0.0/10 shared (CGNAT)
        (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
        (0xa9fe_0000, 16), // 169.254.0.0/16 link-local, cloud metadata
        (0xac10_0000, 12), // 172.16.0.0/12 private
        (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
        (0xc000_0200, 24), // 192.0.2.0/24 documentation
        (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
        (0xc0a8_0000, 16), // 192.168.0.0/16 private
        (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
        (0xc633_6400, 24), // 198.51.100.0/24 documentation
        (0xcb00_7100, 24), // 203.0.113.0/24 documentation
        (0xe000_0000, 4),  // 224.0.0.0/4 multicast
        (0xf000_0000, 4),  // 240.0.0.0/4 reserved, broadcast
        (0xffff_ffff, 32), // 255.255.255.255 broadcast
    ];
    let bits = u32::from(address);
    !REFUSED.iter().any(|(network, prefix)| bits >> (32 - prefix) == network >> (32 - prefix))
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
    #[test]
    fn only_public_unicast_addresses_are_public() {
        let refused = [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2001:2::1",
            "100::1",
            "3fff::1",
        ];
        for text in refused {
            let address: IpAddr = text.parse().expect(text);
            assert!(!is_public(address), "{text} was taken for public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.3.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for text in public {
            let address: IpAddr = text.parse().expect(text);
            assert!(is_public(address), "{text} was refused");
        }
    }

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
