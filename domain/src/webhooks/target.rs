//! Where webhooks may be sent: the SSRF rules. A [`WebhookUrl`] is an absolute `http` or `https`
//! URL without credentials whose host is not a forbidden address; [`forbidden_address`] says
//! which IP addresses deliveries may never reach (loopback, private, link-local, CGNAT,
//! multicast, documentation, cloud metadata, …), in IPv4, IPv6 and IPv6's embeddings of IPv4.
//!
//! The URL is checked when an endpoint is registered; the sender checks every address the host
//! resolves to again at connect time, so DNS cannot rebind a registered name to a private
//! address. [`TargetPolicy::AllowPrivate`] lifts the address rules (tests and local development;
//! the server refuses it in production).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether private targets are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetPolicy {
    /// Only public addresses (the default).
    PublicOnly,
    /// Any address (`KEEL_WEBHOOK_ALLOW_PRIVATE=true`; refused in production).
    AllowPrivate,
}

/// A webhook endpoint's URL, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// The longest URL accepted.
    pub const MAX_LEN: usize = 2048;

    /// Parses and checks `text` (trimmed) under `policy`.
    ///
    /// # Errors
    /// A one-sentence reason, safe to show the shop: not a URL, not http(s), credentials in it,
    /// too long, a host that is a forbidden address or name.
    pub fn parse(text: &str, policy: TargetPolicy) -> Result<WebhookUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the URL is empty; give the absolute https URL of your receiver".to_owned());
        }
        let too_long = || format!("the URL is longer than {} characters", WebhookUrl::MAX_LEN);
        if text.chars().count() > WebhookUrl::MAX_LEN {
            return Err(too_long());
        }
        let mut url = Url::parse(text).map_err(|error| {
            format!("the URL cannot be read ({error}); give an absolute URL such as https://hooks.example.com/keel")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("the URL's scheme is {}; webhooks are only sent over http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "the URL contains a user name or password; remove them (deliveries are signed instead)".to_owned()
            );
        }
        url.set_fragment(None);
        // Percent-encoding can lengthen the text: the stored form must fit too.
        if url.as_str().len() > WebhookUrl::MAX_LEN {
            return Err(too_long());
        }
        let Some(host) = url.host() else {
            return Err("the URL has no host; give an absolute URL such as https://hooks.example.com/keel".to_owned());
        };
        if policy == TargetPolicy::PublicOnly {
            let refusal = match host {
                Host::Ipv4(ip) => forbidden_address(IpAddr::V4(ip)),
                Host::Ipv6(ip) => forbidden_address(IpAddr::V6(ip)),
                Host::Domain(name) => forbidden_name(name),
            };
            if let Some(reason) = refusal {
                return Err(format!(
                    "the URL's host {} is {reason}; webhooks are only sent to public addresses",
                    host_text(&host)
                ));
            }
        }
        Ok(WebhookUrl(url))
    }

    /// A URL read back from storage: parsed, not re-checked (rules may have changed since).
    pub fn stored(text: &str) -> Option<WebhookUrl> {
        url::Url::parse(text).ok().map(WebhookUrl)
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Why deliveries may not reach `ip`, or `None` when it is a public unicast address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => forbidden_v6(ip),
    }
}

const LOOPBACK: &str = "a loopback address";
const PRIVATE: &str = "a private address";
const LINK_LOCAL: &str = "a link-local address (cloud metadata lives here)";
const SHARED: &str = "a shared (CGNAT) address";
const MULTICAST: &str = "a multicast address";
const DOCUMENTATION: &str = "a documentation address";
const UNSPECIFIED: &str = "an unspecified address";
const RESERVED: &str = "a reserved address";
const BROADCAST: &str = "a broadcast address";
const BENCHMARKING: &str = "a benchmarking address";

/// The IPv4 ranges deliveries may not reach (IANA's special-purpose registry, less nothing that
/// is globally reachable and useful to a receiver), most specific first.
const V4_RANGES: [(u32, u32, &str); 16] = [
    (0xFFFF_FFFF, 32, BROADCAST),
    (0x0000_0000, 8, UNSPECIFIED),
    (0x0A00_0000, 8, PRIVATE),
    (0x6440_0000, 10, SHARED),
    (0x7F00_0000, 8, LOOPBACK),
    (0xA9FE_0000, 16, LINK_LOCAL),
    (0xAC10_0000, 12, PRIVATE),
    (0xC000_0000, 24, RESERVED),
    (0xC000_0200, 24, DOCUMENTATION),
    (0xC058_6300, 24, RESERVED),
    (0xC0A8_0000, 16, PRIVATE),
    (0xC612_0000, 15, BENCHMARKING),
    (0xC633_6400, 24, DOCUMENTATION),
    (0xCB00_7100, 24, DOCUMENTATION),
    (0xE000_0000, 4, MULTICAST),
    (0xF000_0000, 4, RESERVED),
];

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES.iter().find(|(network, length, _)| in_prefix_v4(bits, *network, *length)).map(|(_, _, reason)| *reason)
}

fn in_prefix_v4(bits: u32, network: u32, length: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
    bits & mask == network & mask
}

fn in_prefix_v6(bits: u128, network: u128, length: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
    bits & mask == network & mask
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    // The low 32 bits, where IPv4-mapped, IPv4-compatible and NAT64 addresses carry an IPv4
    // address (truncation intended).
    let low_v4 = Ipv4Addr::from(bits as u32);
    if bits == 0 {
        return Some(UNSPECIFIED);
    }
    if bits == 1 {
        return Some(LOOPBACK);
    }
    // ::ffff:0:0/96 (mapped), ::/96 (compatible) and 64:ff9b::/96 (NAT64) reach the embedded
    // IPv4 address, so they are what it is.
    if in_prefix_v6(bits, 0xFFFF_0000_0000, 96) || in_prefix_v6(bits, 0, 96) {
        return forbidden_v4(low_v4);
    }
    if in_prefix_v6(bits, 0x0064_FF9B << 96, 96) {
        return forbidden_v4(low_v4);
    }
    // The local-use NAT64 prefix is not routed on the internet whatever it embeds.
    if in_prefix_v6(bits, 0x0064_FF9B_0001 << 80, 48) {
        return forbidden_v4(low_v4).or(Some("a local-use NAT64 address"));
    }
    // 6to4 (2002::/16) carries the IPv4 address of its relay in bits 16..48.
    if in_prefix_v6(bits, 0x2002 << 112, 16) {
        let embedded = Ipv4Addr::from((bits >> 80) as u32);
        return forbidden_v4(embedded);
    }
    let special = V6_RANGES
        .iter()
        .find(|(network, length, _)| in_prefix_v6(bits, *network, *length))
        .map(|(_, _, reason)| *reason);
    special.or_else(|| (!in_prefix_v6(bits, 0x2000 << 112, 3)).then_some(RESERVED))
}

/// The IPv6 ranges deliveries may not reach besides those embedding IPv4. Everything outside
/// 2000::/3, the only space allocated for global unicast, is refused as reserved besides.
const V6_RANGES: [(u128, u32, &str); 11] = [
    (0x2001_0000 << 96, 32, "a Teredo address"),
    (0x2001_0002 << 96, 48, BENCHMARKING),
    (0x2001_0DB8 << 96, 32, DOCUMENTATION),
    (0x2001_0010 << 96, 28, "an ORCHID address"),
    (0x2001_0020 << 96, 28, "an ORCHID address"),
    (0x3FFF << 112, 20, DOCUMENTATION),
    (0x0100 << 112, 64, "a discard address"),
    (0xFC00 << 112, 7, "a unique-local (private) address"),
    (0xFE80 << 112, 10, "a link-local address"),
    (0xFEC0 << 112, 10, "a site-local address"),
    (0xFF00 << 112, 8, MULTICAST),
];

/// Why deliveries may not reach the host `name`, or `None` for a name that may be public.
fn forbidden_name(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name == "localhost" || name.ends_with(".localhost") || name == "localhost.localdomain" {
        Some("a loopback name")
    } else if name == "metadata" || name == "metadata.google.internal" {
        Some("a cloud metadata name")
    } else if name.ends_with(".internal") || name.ends_with(".local") {
        Some("a local network name")
    } else {
        None
    }
}

/// `host` as the shop wrote it: IPv6 without brackets, names as parsed.
fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
        Host::Domain(name) => (*name).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT64_LOCAL: &str = "a local-use NAT64 address";
    const TEREDO: &str = "a Teredo address";
    const ORCHID: &str = "an ORCHID address";
    const DISCARD: &str = "a discard address";
    const UNIQUE_LOCAL: &str = "a unique-local (private) address";
    const LINK_LOCAL_V6: &str = "a link-local address";
    const SITE_LOCAL: &str = "a site-local address";

    /// Each range's first and last address, or one inside, and its neighbours just outside.
    const ADDRESSES: &[(&str, Option<&str>)] = &[
        // 0.0.0.0/8
        ("0.0.0.0", Some(UNSPECIFIED)),
        ("0.255.255.255", Some(UNSPECIFIED)),
        ("1.0.0.0", None),
        // 10/8
        ("10.0.0.0", Some(PRIVATE)),
        ("10.255.255.255", Some(PRIVATE)),
        ("9.255.255.255", None),
        ("11.0.0.0", None),
        // 100.64/10
        ("100.64.0.0", Some(SHARED)),
        ("100.100.100.200", Some(SHARED)),
        ("100.127.255.255", Some(SHARED)),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        // 127/8
        ("127.0.0.1", Some(LOOPBACK)),
        ("127.255.255.255", Some(LOOPBACK)),
        ("126.255.255.255", None),
        ("128.0.0.0", None),
        // 169.254/16
        ("169.254.0.0", Some(LINK_LOCAL)),
        ("169.254.169.254", Some(LINK_LOCAL)),
        ("169.254.255.255", Some(LINK_LOCAL)),
        ("169.253.255.255", None),
        ("169.255.0.0", None),
        // 172.16/12
        ("172.16.0.0", Some(PRIVATE)),
        ("172.31.255.255", Some(PRIVATE)),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        // 192.0.0/24
        ("192.0.0.0", Some(RESERVED)),
        ("192.0.0.255", Some(RESERVED)),
        ("191.255.255.255", None),
        ("192.0.1.0", None),
        // 192.0.2/24
        ("192.0.2.0", Some(DOCUMENTATION)),
        ("192.0.2.255", Some(DOCUMENTATION)),
        ("192.0.1.255", None),
        ("192.0.3.0", None),
        // 192.88.99/24
        ("192.88.99.0", Some(RESERVED)),
        ("192.88.99.255", Some(RESERVED)),
        ("192.88.98.255", None),
        ("192.88.100.0", None),
        // 192.168/16
        ("192.168.0.0", Some(PRIVATE)),
        ("192.168.255.255", Some(PRIVATE)),
        ("192.167.255.255", None),
        ("192.169.0.0", None),
        // 198.18/15
        ("198.18.0.0", Some(BENCHMARKING)),
        ("198.19.255.255", Some(BENCHMARKING)),
        ("198.17.255.255", None),
        ("198.20.0.0", None),
        // 198.51.100/24
        ("198.51.100.0", Some(DOCUMENTATION)),
        ("198.51.100.255", Some(DOCUMENTATION)),
        ("198.51.99.255", None),
        ("198.51.101.0", None),
        // 203.0.113/24
        ("203.0.113.0", Some(DOCUMENTATION)),
        ("203.0.113.255", Some(DOCUMENTATION)),
        ("203.0.112.255", None),
        ("203.0.114.0", None),
        // 224/4
        ("224.0.0.0", Some(MULTICAST)),
        ("239.255.255.255", Some(MULTICAST)),
        ("223.255.255.255", None),
        // 240/4 and the broadcast address
        ("240.0.0.0", Some(RESERVED)),
        ("255.255.255.254", Some(RESERVED)),
        ("255.255.255.255", Some(BROADCAST)),
        // public
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        // :: and ::1
        ("::", Some(UNSPECIFIED)),
        ("::1", Some(LOOPBACK)),
        ("::2", Some(UNSPECIFIED)),
        // IPv4-mapped ::ffff:0:0/96
        ("::ffff:127.0.0.1", Some(LOOPBACK)),
        ("::ffff:10.0.0.1", Some(PRIVATE)),
        ("::ffff:169.254.169.254", Some(LINK_LOCAL)),
        ("::ffff:93.184.216.34", None),
        ("::fffe:7f00:1", Some(RESERVED)),
        ("::1:ffff:7f00:1", Some(RESERVED)),
        // IPv4-compatible ::/96
        ("::127.0.0.1", Some(LOOPBACK)),
        ("::192.168.1.1", Some(PRIVATE)),
        ("::93.184.216.34", None),
        ("::1:0:7f00:1", Some(RESERVED)),
        // NAT64 64:ff9b::/96
        ("64:ff9b::a00:1", Some(PRIVATE)),
        ("64:ff9b::7f00:1", Some(LOOPBACK)),
        ("64:ff9b::5db8:d822", None),
        ("64:ff9b::1:7f00:1", Some(RESERVED)),
        ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
        // local-use NAT64 64:ff9b:1::/48
        ("64:ff9b:1::7f00:1", Some(LOOPBACK)),
        ("64:ff9b:1::5db8:d822", Some(NAT64_LOCAL)),
        ("64:ff9b:1:ffff:ffff:ffff:5db8:d822", Some(NAT64_LOCAL)),
        ("64:ff9b:2::", Some(RESERVED)),
        // 6to4 2002::/16
        ("2002:7f00:1::", Some(LOOPBACK)),
        ("2002:a00:1::1", Some(PRIVATE)),
        ("2002:a9fe:a9fe::", Some(LINK_LOCAL)),
        ("2002:5db8:d822::1", None),
        ("2003::1", None),
        // Teredo 2001::/32
        ("2001::1", Some(TEREDO)),
        ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", Some(TEREDO)),
        ("2001:1::1", None),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        // benchmarking 2001:2::/48
        ("2001:2::1", Some(BENCHMARKING)),
        ("2001:2:0:ffff::", Some(BENCHMARKING)),
        ("2001:2:1::", None),
        // documentation 2001:db8::/32 and 3fff::/20
        ("2001:db8::1", Some(DOCUMENTATION)),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Some(DOCUMENTATION)),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("2001:db9::", None),
        ("3fff::1", Some(DOCUMENTATION)),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Some(DOCUMENTATION)),
        ("3fff:1000::", None),
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        // ORCHID 2001:10::/28 and 2001:20::/28
        ("2001:10::1", Some(ORCHID)),
        ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", Some(ORCHID)),
        ("2001:20::1", Some(ORCHID)),
        ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", Some(ORCHID)),
        ("2001:f:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("2001:30::", None),
        // discard 100::/64
        ("100::", Some(DISCARD)),
        ("100::ffff:ffff:ffff:ffff", Some(DISCARD)),
        ("100:0:0:1::", Some(RESERVED)),
        // unique-local fc00::/7, with AWS's metadata address
        ("fc00::", Some(UNIQUE_LOCAL)),
        ("fd00:ec2::254", Some(UNIQUE_LOCAL)),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UNIQUE_LOCAL)),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
        ("fe00::", Some(RESERVED)),
        // link-local fe80::/10
        ("fe80::1", Some(LINK_LOCAL_V6)),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LINK_LOCAL_V6)),
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
        // site-local fec0::/10
        ("fec0::1", Some(SITE_LOCAL)),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(SITE_LOCAL)),
        // multicast ff00::/8
        ("ff00::", Some(MULTICAST)),
        ("ff02::1", Some(MULTICAST)),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(MULTICAST)),
        // global unicast 2000::/3 and what lies outside it
        ("2000::", None),
        ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
        ("4000::", Some(RESERVED)),
        ("2606:4700::1111", None),
        ("2a00:1450:4001::1", None),
    ];

    #[test]
    fn every_range_is_refused_inside_and_not_just_outside() {
        for (text, expected) in ADDRESSES {
            let ip: IpAddr = text.parse().expect("the table holds addresses");
            assert_eq!(forbidden_address(ip), *expected, "{text}");
        }
    }

    fn refusal(text: &str) -> String {
        match WebhookUrl::parse(text, TargetPolicy::PublicOnly) {
            Ok(url) => panic!("{text} was accepted as {}", url.as_str()),
            Err(reason) => reason,
        }
    }

    #[test]
    fn spellings_of_forbidden_hosts_are_refused() {
        let cases = [
            ("http://2130706433/", "127.0.0.1 is a loopback address"),
            ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
            ("http://0x7f.0.0.1/", "127.0.0.1 is a loopback address"),
            ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
            ("http://127.1/", "127.0.0.1 is a loopback address"),
            ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
            ("http://[::1]/", "::1 is a loopback address"),
            ("http://[::ffff:127.0.0.1]/", "is a loopback address"),
            ("http://[::ffff:7f00:1]/", "is a loopback address"),
            ("http://[::127.0.0.1]/", "is a loopback address"),
            ("http://[64:ff9b::a00:1]/", "is a private address"),
            ("http://[2002:7f00:1::]/", "is a loopback address"),
            ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a unique-local (private) address"),
            ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
            ("http://100.100.100.200/", "100.100.100.200 is a shared (CGNAT) address"),
            ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
            ("http://LOCALHOST./", "localhost. is a loopback name"),
            ("http://localhost:3000/hooks", "localhost is a loopback name"),
            ("http://foo.localhost/", "foo.localhost is a loopback name"),
            ("http://localhost.localdomain/", "is a loopback name"),
            ("http://metadata.google.internal/", "is a cloud metadata name"),
            ("http://metadata/computeMetadata/v1/", "is a cloud metadata name"),
            ("http://Metadata.Google.Internal./", "is a cloud metadata name"),
            ("http://db.internal/", "db.internal is a local network name"),
            ("http://printer.local./", "printer.local. is a local network name"),
        ];
        for (text, expected) in cases {
            let reason = refusal(text);
            assert!(reason.contains(expected), "{text}: {reason}");
            assert!(reason.ends_with("webhooks are only sent to public addresses"), "{text}: {reason}");
        }
    }

    #[test]
    fn public_targets_are_accepted() {
        for text in [
            "https://93.184.216.34/",
            "https://[2606:4700::1111]/",
            "https://hooks.example.com/keel?x=1",
            "  http://hooks.example.com:8080/a/b  ",
            "https://notlocalhost.example/",
            "https://local.example.com/",
            "https://internal.example.com/",
        ] {
            let url = WebhookUrl::parse(text, TargetPolicy::PublicOnly).expect("a public target");
            assert_eq!(url.as_str(), text.trim(), "{text}");
        }
    }

    #[test]
    fn the_fragment_is_dropped() {
        let url = WebhookUrl::parse("https://hooks.example.com/keel#part", TargetPolicy::PublicOnly)
            .expect("a URL with a fragment");
        assert_eq!(url.as_str(), "https://hooks.example.com/keel");
        assert_eq!(url.url().fragment(), None);
    }

    #[test]
    fn malformed_urls_are_refused_under_either_policy() {
        let long = format!("https://hooks.example.com/{}", "a".repeat(WebhookUrl::MAX_LEN));
        let cases = [
            ("ftp://hooks.example.com/", "scheme is ftp"),
            ("file:///etc/passwd", "scheme is file"),
            ("http://user:pw@example.com/", "user name or password"),
            ("http://user@example.com/", "user name or password"),
            ("not a url", "cannot be read"),
            ("/hooks/keel", "cannot be read"),
            ("hooks.example.com/keel", "cannot be read"),
            ("http://", "cannot be read"),
            ("", "is empty"),
            ("   ", "is empty"),
            (long.as_str(), "longer than 2048 characters"),
        ];
        for policy in [TargetPolicy::PublicOnly, TargetPolicy::AllowPrivate] {
            for (text, expected) in cases {
                let reason = WebhookUrl::parse(text, policy).expect_err("a malformed URL");
                assert!(reason.contains(expected), "{text}: {reason}");
            }
        }
    }

    #[test]
    fn percent_encoding_cannot_push_the_url_past_the_limit() {
        let path = "é".repeat(1000);
        let text = format!("https://hooks.example.com/{path}");
        assert!(text.chars().count() <= WebhookUrl::MAX_LEN);
        let reason = WebhookUrl::parse(&text, TargetPolicy::PublicOnly).expect_err("too long once encoded");
        assert!(reason.contains("longer than"), "{reason}");
    }

    #[test]
    fn allow_private_lifts_only_the_address_rules() {
        for text in ["http://127.0.0.1:9/", "http://localhost:3000/", "http://[::1]/", "http://10.0.0.5/hooks"] {
            let url = WebhookUrl::parse(text, TargetPolicy::AllowPrivate).expect("a private target allowed");
            assert_eq!(url.as_str(), text);
        }
    }
}
