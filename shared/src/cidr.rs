//! IPv4/IPv6 CIDR blocks for `in_cidr`. A plain address is a block of one.
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match IPv4 blocks.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let prefix: Option<u32> = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => Some(p.parse().ok()?),
            Some(_) => return None,
            None => None,
        };
        match ip {
            IpAddr::V4(v4) => {
                let bits = prefix.unwrap_or(32);
                if bits > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Some(Cidr::V4 { net: u32::from(v4) & mask, mask })
            }
            IpAddr::V6(v6) => {
                let bits = prefix.unwrap_or(128);
                if bits > 128 {
                    return None;
                }
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Some(Cidr::V6 { net: u128::from(v6) & mask, mask })
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self, ip) {
            (Cidr::V4 { net, mask }, IpAddr::V4(a)) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, IpAddr::V6(a)) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn matches_blocks() {
        let cases = [
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7/32", "192.168.1.8", false),
            ("2001:db8::/32", "2001:db8:1::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::/0", "10.0.0.1", false),
        ];
        for (block, ip, want) in cases {
            let c = Cidr::parse(block).unwrap();
            assert_eq!(c.contains(ip.parse().unwrap()), want, "{block} ∋ {ip}");
        }
    }

    #[test]
    fn rejects_bad_blocks() {
        for s in ["", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "10.0.0.0/-1", "x/8", "10.0.0.0/8/8"] {
            assert!(Cidr::parse(s).is_none(), "{s}");
        }
    }
}
