//! Failed-login throttling, per account and per client address.
//!
//! Each key (a tenant's email, a client address) may fail a number of times per window; once
//! it has, further attempts are refused until the window ends, before any password work is
//! done. A success clears the account's count. State is kept in this process: with several
//! server processes each keeps its own count (README, "Limits"). IPv6 clients are counted per
//! /64 network ([`address_key`]), not per address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use super::{Email, Slug};
use crate::error::DomainError;

/// Failures one account may have per window.
pub const ACCOUNT_FAILURES: u32 = 5;
/// Failures one client address may have per window, across accounts.
pub const ADDRESS_FAILURES: u32 = 20;
/// The window.
pub const WINDOW: Duration = Duration::minutes(15);
/// Most keys tracked per kind; past it, expired windows are dropped, then the oldest.
const MAX_TRACKED_KEYS: usize = 100_000;
/// The IPv6 prefix counted as one client: the /64 a provider hands one subscriber.
const IPV6_CLIENT_PREFIX_BITS: u32 = 64;

#[derive(Clone, Copy, Debug)]
struct Window {
    started: OffsetDateTime,
    failures: u32,
}

/// Counts failed logins.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    accounts: Mutex<HashMap<String, Window>>,
    addresses: Mutex<HashMap<IpAddr, Window>>,
}

/// The keys one login attempt counts against.
#[derive(Clone, Debug)]
pub struct Attempt {
    account: String,
    address: Option<IpAddr>,
}

impl Attempt {
    /// The attempt of `email` at `slug` from `address`.
    pub fn new(slug: &Slug, email: &str, address: Option<IpAddr>) -> Attempt {
        let email =
            Email::parse("email", email).map(|e| e.as_str().to_owned()).unwrap_or_else(|_| email.to_lowercase());
        Attempt { account: format!("{}/{email}", slug.as_str()), address: address.map(address_key) }
    }
}

/// The key failures from `address` are counted under: an IPv4 address as it is, an IPv6
/// address reduced to its /64 network. One subscriber usually holds a whole /64 and can pick
/// a fresh address in it for every attempt, so per-address counting would not limit them. An
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as its IPv4 address.
pub fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & (u128::MAX << (128 - IPV6_CLIENT_PREFIX_BITS));
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

impl LoginThrottle {
    /// Refuses the attempt when its account or address has used up its failures.
    ///
    /// # Errors
    /// `RateLimited` with the seconds until the window ends.
    pub fn check(&self, attempt: &Attempt, now: OffsetDateTime) -> Result<(), DomainError> {
        let account = blocked_for(&self.accounts, &attempt.account, ACCOUNT_FAILURES, now);
        let address = attempt.address.and_then(|a| blocked_for(&self.addresses, &a, ADDRESS_FAILURES, now));
        match account.into_iter().chain(address).max() {
            Some(wait) => {
                Err(DomainError::RateLimited { retry_after_secs: wait.whole_seconds().max(1).unsigned_abs() })
            }
            None => Ok(()),
        }
    }

    /// Counts a failure against the attempt's account and address.
    pub fn record_failure(&self, attempt: &Attempt, now: OffsetDateTime) {
        count(&self.accounts, attempt.account.clone(), now);
        if let Some(address) = attempt.address {
            count(&self.addresses, address, now);
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn record_success(&self, attempt: &Attempt) {
        lock(&self.accounts).remove(&attempt.account);
    }
}

fn lock<K, V>(map: &Mutex<HashMap<K, V>>) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn blocked_for<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Window>>,
    key: &K,
    limit: u32,
    now: OffsetDateTime,
) -> Option<Duration> {
    let windows = lock(map);
    let window = windows.get(key)?;
    let ends = window.started + WINDOW;
    (window.failures >= limit && ends > now).then(|| ends - now)
}

fn count<K: std::hash::Hash + Eq + Clone>(map: &Mutex<HashMap<K, Window>>, key: K, now: OffsetDateTime) {
    let mut windows = lock(map);
    if windows.len() >= MAX_TRACKED_KEYS && !windows.contains_key(&key) {
        windows.retain(|_, w| w.started + WINDOW > now);
        if windows.len() >= MAX_TRACKED_KEYS {
            let oldest = windows.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                windows.remove(&oldest);
            }
        }
    }
    let window = windows.entry(key).or_insert(Window { started: now, failures: 0 });
    if window.started + WINDOW <= now {
        *window = Window { started: now, failures: 0 };
    }
    window.failures += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(email: &str, address: [u8; 4]) -> Attempt {
        Attempt::new(&Slug::parse("slug", "acme").expect("slug"), email, Some(IpAddr::from(address)))
    }

    #[test]
    fn an_account_is_refused_after_five_failures_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let start = OffsetDateTime::UNIX_EPOCH;
        let ada = attempt("ada@example.com", [10, 0, 0, 1]);

        for _ in 0..ACCOUNT_FAILURES {
            assert!(throttle.check(&ada, start).is_ok());
            throttle.record_failure(&ada, start);
        }

        let refused = throttle.check(&ada, start + Duration::minutes(1));
        assert!(matches!(refused, Err(DomainError::RateLimited { retry_after_secs: 840 })), "{refused:?}");
        assert!(throttle.check(&attempt("bob@example.com", [10, 0, 0, 2]), start).is_ok(), "other accounts unaffected");
        assert!(throttle.check(&ada, start + WINDOW).is_ok(), "the window ends");
    }

    #[test]
    fn an_address_is_refused_after_twenty_failures_across_accounts() {
        let throttle = LoginThrottle::default();
        let now = OffsetDateTime::UNIX_EPOCH;

        for n in 0..ADDRESS_FAILURES {
            throttle.record_failure(&attempt(&format!("user{n}@example.com"), [10, 0, 0, 9]), now);
        }

        assert!(throttle.check(&attempt("new@example.com", [10, 0, 0, 9]), now).is_err());
        assert!(throttle.check(&attempt("new@example.com", [10, 0, 0, 10]), now).is_ok());
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_bit_network_and_ipv4_as_they_are() {
        let key = |raw: &str| address_key(raw.parse().expect("address")).to_string();

        assert_eq!(key("2001:db8:1:2::a"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::a"), key("2001:db8:1:2::a"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn ipv6_addresses_in_one_64_share_the_address_count() {
        let throttle = LoginThrottle::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let slug = Slug::parse("slug", "acme").expect("slug");
        let from = |address: &str, n: u32| {
            Attempt::new(&slug, &format!("user{n}@example.com"), Some(address.parse().expect("address")))
        };

        for n in 0..ADDRESS_FAILURES {
            throttle.record_failure(&from(&format!("2001:db8:1:2::{n:x}"), n), now);
        }

        assert!(throttle.check(&from("2001:db8:1:2:abcd::1", 99), now).is_err(), "the same /64 is refused");
        assert!(throttle.check(&from("2001:db8:1:3::1", 99), now).is_ok(), "the next /64 is not");
    }

    #[test]
    fn a_success_clears_the_account_count() {
        let throttle = LoginThrottle::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let ada = attempt("ada@example.com", [10, 0, 0, 1]);
        for _ in 0..ACCOUNT_FAILURES - 1 {
            throttle.record_failure(&ada, now);
        }

        throttle.record_success(&ada);
        throttle.record_failure(&ada, now);

        assert!(throttle.check(&ada, now).is_ok());
    }

    #[test]
    fn accounts_are_keyed_case_insensitively() {
        let throttle = LoginThrottle::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..ACCOUNT_FAILURES {
            throttle.record_failure(&attempt("Ada@Example.com", [10, 0, 0, 1]), now);
        }

        assert!(throttle.check(&attempt("ada@example.com", [10, 0, 0, 3]), now).is_err());
    }
}
