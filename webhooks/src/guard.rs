//! The SSRF guard over name resolution. At connect time, [`GuardedResolver`] resolves a host and
//! keeps only the addresses deliveries may reach, failing with [`ResolveError::Forbidden`] when
//! none remains; the sender recognizes that error in reqwest's error chain and reports it as
//! refused. At registration, [`check_resolved`] is stricter: one forbidden address among those
//! a name resolves to is enough to refuse it.
//!
//! reqwest calls the resolver only for names: IP-literal hosts are checked by the sender
//! itself, with [`refused_literal`], before anything connects.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use domain::webhooks::{TargetPolicy, forbidden_address};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// Why a host gave no address to connect to.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// The name does not resolve.
    Unresolvable {
        /// The name.
        host: String,
        /// What the system resolver said.
        detail: String,
    },
    /// Every address the name resolves to is forbidden under the policy.
    Forbidden {
        /// The name.
        host: String,
        /// Each address it resolves to, and why it is forbidden.
        refused: Vec<(IpAddr, &'static str)>,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Unresolvable { host, detail } => write!(f, "the host {host} does not resolve ({detail})"),
            ResolveError::Forbidden { host, refused } => match refused.as_slice() {
                [(ip, reason)] => write!(f, "{host} resolves only to {ip}, {reason}"),
                _ => {
                    let listed: Vec<String> = refused.iter().map(|(ip, reason)| format!("{ip} ({reason})")).collect();
                    write!(f, "{host} resolves only to forbidden addresses: {}", listed.join(", "))
                }
            },
        }
    }
}

impl std::error::Error for ResolveError {}

/// reqwest's resolver for webhook deliveries: the system resolver (through tokio), less every
/// address the policy forbids.
#[derive(Debug)]
pub(crate) struct GuardedResolver {
    /// The address rules applied.
    pub(crate) policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) on every address returned.
            let resolved: Result<Vec<SocketAddr>, _> =
                tokio::net::lookup_host((host.as_str(), 0)).await.map(Iterator::collect);
            let found = match resolved {
                Ok(found) => found,
                Err(error) => return Err(unresolvable(host, &error).into()),
            };
            let allowed = allowed_addresses(host, found, policy)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

fn unresolvable(host: String, error: &std::io::Error) -> ResolveError {
    let detail = error.to_string();
    // The system resolver's message repeats what the sentence already says.
    let detail = detail.strip_prefix("failed to lookup address information: ").unwrap_or(&detail).to_owned();
    ResolveError::Unresolvable { host, detail }
}

/// The addresses of `found` that deliveries may reach under `policy`.
///
/// # Errors
/// [`ResolveError::Forbidden`] when there were addresses but none may be reached,
/// [`ResolveError::Unresolvable`] when there were none.
pub(crate) fn allowed_addresses(
    host: String,
    found: Vec<SocketAddr>,
    policy: TargetPolicy,
) -> Result<Vec<SocketAddr>, ResolveError> {
    if found.is_empty() {
        return Err(ResolveError::Unresolvable { host, detail: "no address".to_owned() });
    }
    if policy == TargetPolicy::AllowPrivate {
        return Ok(found);
    }
    let mut allowed = Vec::with_capacity(found.len());
    let mut refused: Vec<(IpAddr, &'static str)> = Vec::new();
    for address in found {
        match forbidden_address(address.ip()) {
            None => allowed.push(address),
            Some(reason) => {
                if !refused.iter().any(|(ip, _)| *ip == address.ip()) {
                    refused.push((address.ip(), reason));
                }
            }
        }
    }
    if allowed.is_empty() { Err(ResolveError::Forbidden { host, refused }) } else { Ok(allowed) }
}

/// Why an IP-literal `host` may not be reached under `policy`, as a sentence; `None` for a name
/// (the resolver checks those) or an allowed address.
pub(crate) fn refused_literal(host: Option<Host<&str>>, policy: TargetPolicy) -> Option<String> {
    let ip = match host? {
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
        Host::Domain(_) => return None,
    };
    if policy == TargetPolicy::AllowPrivate {
        return None;
    }
    forbidden_address(ip).map(|reason| refusal(&ip.to_string(), ip, reason))
}

/// The registration check of a name's resolved addresses: under `PublicOnly`, any forbidden
/// one refuses the name.
///
/// # Errors
/// A sentence naming the first forbidden address and why.
pub(crate) fn check_resolved(host: &str, found: &[IpAddr], policy: TargetPolicy) -> Result<(), String> {
    if policy == TargetPolicy::AllowPrivate {
        return Ok(());
    }
    match found.iter().find_map(|ip| forbidden_address(*ip).map(|reason| (*ip, reason))) {
        Some((ip, reason)) => Err(refusal(host, ip, reason)),
        None => Ok(()),
    }
}

fn refusal(host: &str, ip: IpAddr, reason: &str) -> String {
    let what = if host == ip.to_string() { format!("is {reason}") } else { format!("resolves to {ip}, {reason}") };
    format!("the URL's host {host} {what}; webhooks are only sent to public addresses")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[test]
    fn forbidden_addresses_are_dropped_and_public_ones_kept() {
        let found = vec![address("10.0.0.5:443"), address("93.184.216.34:443"), address("[::1]:443")];
        let allowed =
            allowed_addresses("hooks.example.com".to_owned(), found, TargetPolicy::PublicOnly).expect("one is public");
        assert_eq!(allowed, vec![address("93.184.216.34:443")]);
    }

    #[test]
    fn a_name_with_only_forbidden_addresses_is_refused_with_each_reason() {
        let one =
            allowed_addresses("hooks.example.com".to_owned(), vec![address("10.0.0.5:0")], TargetPolicy::PublicOnly)
                .expect_err("only private");
        assert_eq!(one.to_string(), "hooks.example.com resolves only to 10.0.0.5, a private address");
        let two = allowed_addresses(
            "localhost".to_owned(),
            vec![address("127.0.0.1:0"), address("127.0.0.1:0"), address("[::1]:0")],
            TargetPolicy::PublicOnly,
        )
        .expect_err("only loopback");
        assert_eq!(
            two.to_string(),
            "localhost resolves only to forbidden addresses: 127.0.0.1 (a loopback address), ::1 (a loopback address)"
        );
    }

    #[test]
    fn allow_private_keeps_everything_but_nothing_is_still_an_error() {
        let found = vec![address("10.0.0.5:0"), address("127.0.0.1:0")];
        let allowed = allowed_addresses("x".to_owned(), found.clone(), TargetPolicy::AllowPrivate).expect("allowed");
        assert_eq!(allowed, found);
        let none = allowed_addresses("x".to_owned(), Vec::new(), TargetPolicy::AllowPrivate).expect_err("no address");
        assert!(matches!(none, ResolveError::Unresolvable { .. }));
    }

    #[test]
    fn registration_refuses_a_name_with_any_forbidden_address() {
        let found: Vec<IpAddr> =
            ["93.184.216.34", "169.254.169.254"].iter().map(|ip| ip.parse().expect("an address")).collect();
        let reason = check_resolved("hooks.example.com", &found, TargetPolicy::PublicOnly).expect_err("one is private");
        assert_eq!(
            reason,
            "the URL's host hooks.example.com resolves to 169.254.169.254, a link-local address (cloud metadata lives \
             here); webhooks are only sent to public addresses"
        );
        assert_eq!(check_resolved("hooks.example.com", &found, TargetPolicy::AllowPrivate), Ok(()));
        assert_eq!(check_resolved("hooks.example.com", &found[..1], TargetPolicy::PublicOnly), Ok(()));
    }

    #[test]
    fn literals_are_checked_and_names_left_to_the_resolver() {
        let loopback = refused_literal(Some(Host::Ipv4("127.0.0.1".parse().expect("v4"))), TargetPolicy::PublicOnly);
        assert_eq!(
            loopback.as_deref(),
            Some("the URL's host 127.0.0.1 is a loopback address; webhooks are only sent to public addresses")
        );
        let mapped = Host::Ipv6("::ffff:10.1.2.3".parse().expect("v6"));
        assert!(refused_literal(Some(mapped.clone()), TargetPolicy::PublicOnly).is_some());
        assert_eq!(refused_literal(Some(mapped), TargetPolicy::AllowPrivate), None);
        assert_eq!(
            refused_literal(Some(Host::Ipv4("93.184.216.34".parse().expect("v4"))), TargetPolicy::PublicOnly),
            None
        );
        assert_eq!(refused_literal(Some(Host::Domain("localhost")), TargetPolicy::PublicOnly), None);
    }
}
