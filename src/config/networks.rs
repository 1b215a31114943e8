//! `haproxy_trusted_proxies`: the addresses whose `X-Forwarded-For` and
//! `X-Forwarded-Proto` a unit's HAProxy passes on. Parsed into typed networks
//! so that the text HAProxy reads is made from numbers, never from the option.

use std::fmt;
use std::net::IpAddr;

/// An address with a prefix length: `10.0.0.0/24`, `fd00::/64`, `10.0.0.7/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Network {
    pub address: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Network {
    /// One entry: an address (a host network) or `address/prefix`, with no
    /// bits set past the prefix (`10.0.0.7/24` is refused, naming
    /// `10.0.0.0/24`: a typo there would trust another network than meant).
    pub fn parse(text: &str) -> Result<Self, String> {
        let quoted = crate::text::quoted(text);
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| format!("{quoted} is not an IP address or network"))?;
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= width => p,
                _ => return Err(format!("{quoted} has a prefix length that is not 0 to {width}")),
            },
        };
        let network = Self { address: mask(address, prefix), prefix };
        if network.address != address {
            return Err(format!("{quoted} has bits set past its prefix (the network is {network})"));
        }
        Ok(network)
    }

    /// A comma- or space-separated list; empty means none.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut networks = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        networks.sort();
        networks.dedup();
        Ok(networks)
    }
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 { 0 } else { bits & (u32::MAX << (32 - u32::from(prefix))) };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 { 0 } else { bits & (u128::MAX << (128 - u32::from(prefix))) };
            IpAddr::V6(kept.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_of_both_families() {
        let list = Network::parse_list("10.0.0.0/24, 192.0.2.7 fd00::/64,,10.0.0.0/24").unwrap();
        let shown: Vec<String> = list.iter().map(Network::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/24", "192.0.2.7/32", "fd00::/64"]);
        assert_eq!(Network::parse_list("  ").unwrap(), []);
    }

    #[test]
    fn refusals_name_the_entry() {
        for (text, says) in [
            ("10.0.0.7/24", "the network is 10.0.0.0/24"),
            ("10.0.0.0/33", "0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("edge.example", "not an IP address"),
            ("10.0.0.0/24;deny", "not 0 to 32"),
        ] {
            let error = Network::parse_list(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        assert!(Network::parse("0.0.0.0/0").is_ok(), "trusting everyone is the operator's call");
    }
}
