//! Login throttling: every attempt is counted *before* its password is checked.
//!
//! An attempt first takes a [`Reservation`] against three counters, all at once under one lock,
//! so concurrent attempts can never together get past a limit:
//!
//! - its (account, client address) pair: [`PAIR_ATTEMPTS`] per [`WINDOW`], the strict limit on
//!   guessing one account from one place;
//! - its client address, across accounts and tenants (unknown ones included):
//!   [`ADDRESS_ATTEMPTS`] per [`WINDOW`];
//! - its account, from everywhere: [`ACCOUNT_ATTEMPTS`] per [`ACCOUNT_WINDOW`], the slower cap
//!   on guessing from many addresses. It does not apply to an address the account signed in
//!   from successfully within [`KNOWN_ADDRESS_RETENTION`], so strangers flooding the account
//!   from elsewhere do not lock its owner out of their usual places.
//!
//! A counter at its limit refuses the attempt (`RateLimited`, until its window ends) and counts
//! nothing. A success gives its reservation back and clears its pair; an attempt whose password
//! was never checked (no hashing slot was free) gives it back too; every other attempt stays
//! counted. Accounts are kept as keyed 64-bit hashes and every map holds at most
//! [`MAX_TRACKED_KEYS`] keys, so memory is bounded whatever is sent. State is kept in this
//! process: with several server processes each keeps its own counts (README, "Limits"). IPv6
//! clients are counted per /64 network ([`address_key`]), not per address.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use time::{Duration, OffsetDateTime};

use crate::error::DomainError;

/// Attempts one account may get from one client address per [`WINDOW`].
pub const PAIR_ATTEMPTS: u32 = 5;
/// Attempts one client address may make per [`WINDOW`], across accounts and tenants.
pub const ADDRESS_ATTEMPTS: u32 = 20;
/// The window of the pair and address counters.
pub const WINDOW: Duration = Duration::minutes(15);
/// Attempts one account may get per [`ACCOUNT_WINDOW`] from addresses it has not signed in from.
pub const ACCOUNT_ATTEMPTS: u32 = 100;
/// The window of the account counter.
pub const ACCOUNT_WINDOW: Duration = Duration::hours(1);
/// How long a successful sign-in makes its address known to the account.
pub const KNOWN_ADDRESS_RETENTION: Duration = Duration::days(30);
/// Most keys each map tracks; past it, expired entries are dropped, then the oldest tenth.
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// The IPv6 prefix counted as one client: the /64 a provider hands one subscriber.
const IPV6_CLIENT_PREFIX_BITS: u32 = 64;

/// An account as the throttle knows it: a hash of tenant slug and email under a key chosen at
/// random when the process starts, so its size is fixed and nobody can aim collisions.
type AccountKey = u64;

/// Counts login attempts.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    hasher: RandomState,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    pairs: Counter<(AccountKey, Option<IpAddr>)>,
    addresses: Counter<IpAddr>,
    accounts: Counter<AccountKey>,
    /// When each (account, address) last signed in successfully.
    known: HashMap<(AccountKey, IpAddr), OffsetDateTime>,
}

impl Default for State {
    fn default() -> Self {
        State {
            pairs: Counter::new(PAIR_ATTEMPTS, WINDOW),
            addresses: Counter::new(ADDRESS_ATTEMPTS, WINDOW),
            accounts: Counter::new(ACCOUNT_ATTEMPTS, ACCOUNT_WINDOW),
            known: HashMap::new(),
        }
    }
}

/// The keys one login attempt counts against.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// `slug/email`, both already normalised and bounded by the login's parse.
    account: String,
    address: Option<IpAddr>,
}

impl Attempt {
    /// The attempt of `email` at the tenant `slug` from `address`. Both strings come from a
    /// parsed [`super::sessions::Login`], so they are bounded, trimmed and lower-cased.
    pub fn new(slug: &str, email: &str, address: Option<IpAddr>) -> Attempt {
        Attempt { account: format!("{slug}/{email}"), address: address.map(address_key) }
    }
}

/// What an attempt holds between being let through and its outcome: settle it with
/// [`LoginThrottle::succeed`] or [`LoginThrottle::release`]; dropping it leaves it counted.
#[derive(Debug)]
#[must_use = "a reservation is settled by `succeed` or `release`; dropped, it counts as a failure"]
pub struct Reservation {
    account: AccountKey,
    address: Option<IpAddr>,
    taken_at: OffsetDateTime,
}

/// The key attempts from `address` are counted under: an IPv4 address as it is, an IPv6
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
    /// Lets the attempt through and counts it against its pair, address and account, or
    /// refuses it when any of them is at its limit (the account's only for an address it has
    /// not signed in from lately). Check and count are one step, so of any number of
    /// concurrent attempts no more than a limit's worth get through.
    ///
    /// # Errors
    /// `RateLimited` with the seconds until the longest blocking window ends.
    pub fn reserve(&self, attempt: &Attempt, now: OffsetDateTime) -> Result<Reservation, DomainError> {
        let account = self.hasher.hash_one(&attempt.account);
        let address = attempt.address;
        let mut state = self.lock();
        let known = address.is_some_and(|address| {
            state.known.get(&(account, address)).is_some_and(|&at| at + KNOWN_ADDRESS_RETENTION > now)
        });
        let waits = [
            state.pairs.wait(&(account, address), now),
            address.and_then(|address| state.addresses.wait(&address, now)),
            if known { None } else { state.accounts.wait(&account, now) },
        ];
        if let Some(wait) = waits.into_iter().flatten().max() {
            return Err(DomainError::RateLimited { retry_after_secs: wait.whole_seconds().max(1).unsigned_abs() });
        }
        state.pairs.take((account, address), now);
        if let Some(address) = address {
            state.addresses.take(address, now);
        }
        state.accounts.take(account, now);
        Ok(Reservation { account, address, taken_at: now })
    }

    /// Gives back a reservation whose password was never checked.
    pub fn release(&self, reservation: Reservation) {
        let Reservation { account, address, taken_at } = reservation;
        let mut state = self.lock();
        state.pairs.give_back(&(account, address), taken_at);
        if let Some(address) = address {
            state.addresses.give_back(&address, taken_at);
        }
        state.accounts.give_back(&account, taken_at);
    }

    /// Settles a successful sign-in: its reservation is given back, its pair's count cleared,
    /// and its address becomes known to the account. The account's count of other attempts
    /// stays: the owner signing in does not buy strangers more guesses.
    pub fn succeed(&self, reservation: Reservation, now: OffsetDateTime) {
        let Reservation { account, address, taken_at } = reservation;
        let mut state = self.lock();
        state.pairs.clear(&(account, address));
        state.accounts.give_back(&account, taken_at);
        if let Some(address) = address {
            state.addresses.give_back(&address, taken_at);
            make_room(&mut state.known, &(account, address), now - KNOWN_ADDRESS_RETENTION, |&at| at);
            state.known.insert((account, address), now);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A count of attempts per key in fixed windows that start with a key's first attempt.
#[derive(Debug)]
struct Counter<K> {
    limit: u32,
    window: Duration,
    windows: HashMap<K, Window>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: OffsetDateTime,
    attempts: u32,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Counter { limit, window, windows: HashMap::new() }
    }

    /// How long `key` must wait, when it is at its limit.
    fn wait(&self, key: &K, now: OffsetDateTime) -> Option<Duration> {
        let window = self.windows.get(key)?;
        let ends = window.started + self.window;
        (window.attempts >= self.limit && ends > now).then(|| ends - now)
    }

    /// Counts an attempt of `key`, starting a new window when the last one ended.
    fn take(&mut self, key: K, now: OffsetDateTime) {
        make_room(&mut self.windows, &key, now - self.window, |window| window.started);
        let window = self.windows.entry(key).or_insert(Window { started: now, attempts: 0 });
        if window.started + self.window <= now {
            *window = Window { started: now, attempts: 0 };
        }
        window.attempts += 1;
    }

    /// Uncounts an attempt taken at `taken_at`, if its window is still the current one.
    fn give_back(&mut self, key: &K, taken_at: OffsetDateTime) {
        if let Some(window) = self.windows.get_mut(key).filter(|window| window.started <= taken_at) {
            window.attempts = window.attempts.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &K) {
        self.windows.remove(key);
    }
}

/// Keeps `map` under [`MAX_TRACKED_KEYS`] before `key` is added: when full, entries stamped at
/// or before `expired_at` go, and if that frees nothing, the oldest tenth (at least one) does.
/// Dropping a tenth at a time keeps the cost of a full map at one scan per ten thousand
/// inserts instead of one per insert.
fn make_room<K: Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    key: &K,
    expired_at: OffsetDateTime,
    stamp: impl Fn(&V) -> OffsetDateTime,
) {
    if map.len() < MAX_TRACKED_KEYS || map.contains_key(key) {
        return;
    }
    map.retain(|_, value| stamp(value) > expired_at);
    if map.len() < MAX_TRACKED_KEYS {
        return;
    }
    let mut stamps: Vec<OffsetDateTime> = map.values().map(&stamp).collect();
    let nth = stamps.len() / 10;
    let (_, &mut cutoff, _) = stamps.select_nth_unstable(nth);
    map.retain(|_, value| stamp(value) > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn attempt(email: &str, address: &str) -> Attempt {
        Attempt::new("acme", email, Some(address.parse().expect("address")))
    }

    fn refused_for(result: Result<Reservation, DomainError>) -> Option<u64> {
        match result {
            Err(DomainError::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            _ => None,
        }
    }

    /// Takes `n` reservations and leaves them counted, as failed attempts do.
    fn fail(throttle: &LoginThrottle, attempt: &Attempt, n: u32, now: OffsetDateTime) {
        for i in 0..n {
            let reservation = throttle.reserve(attempt, now).unwrap_or_else(|err| panic!("attempt {i}: {err}"));
            drop(reservation);
        }
    }

    #[test]
    fn a_pair_is_refused_after_five_attempts_until_its_window_ends() {
        let throttle = LoginThrottle::default();
        let ada = attempt("ada@example.com", "10.0.0.1");

        fail(&throttle, &ada, PAIR_ATTEMPTS, START);

        assert_eq!(refused_for(throttle.reserve(&ada, START + Duration::minutes(1))), Some(840));
        assert!(throttle.reserve(&attempt("bob@example.com", "10.0.0.1"), START).is_ok(), "other accounts");
        assert!(throttle.reserve(&attempt("ada@example.com", "10.0.0.2"), START).is_ok(), "other addresses");
        assert!(throttle.reserve(&ada, START + WINDOW).is_ok(), "the window ends");
    }

    #[test]
    fn an_address_is_refused_after_twenty_attempts_across_accounts() {
        let throttle = LoginThrottle::default();

        for n in 0..ADDRESS_ATTEMPTS {
            fail(&throttle, &attempt(&format!("user{n}@example.com"), "10.0.0.9"), 1, START);
        }

        assert!(refused_for(throttle.reserve(&attempt("new@example.com", "10.0.0.9"), START)).is_some());
        assert!(throttle.reserve(&attempt("new@example.com", "10.0.0.10"), START).is_ok());
    }

    #[test]
    fn an_account_guessed_from_many_addresses_is_refused_except_where_it_signed_in_before() {
        let throttle = LoginThrottle::default();
        let home = attempt("ada@example.com", "192.0.2.1");
        let signed_in = throttle.reserve(&home, START).expect("first sign-in");
        throttle.succeed(signed_in, START);

        for n in 0..ACCOUNT_ATTEMPTS / PAIR_ATTEMPTS {
            fail(&throttle, &attempt("ada@example.com", &format!("198.51.100.{n}")), PAIR_ATTEMPTS, START);
        }

        let stranger = throttle.reserve(&attempt("ada@example.com", "203.0.113.1"), START + Duration::minutes(30));
        assert_eq!(refused_for(stranger), Some(30 * 60));
        assert!(throttle.reserve(&home, START + Duration::minutes(30)).is_ok(), "the owner's address still may");
        assert!(throttle.reserve(&attempt("ada@example.com", "203.0.113.1"), START + ACCOUNT_WINDOW).is_ok());
    }

    #[test]
    fn concurrent_attempts_never_get_past_a_limit_together() {
        let throttle = LoginThrottle::default();
        let ada = attempt("ada@example.com", "10.0.0.1");

        let admitted: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..25).filter(|_| throttle.reserve(&ada, START).is_ok()).count()))
                .collect();
            handles.into_iter().map(|handle| handle.join().expect("thread")).sum()
        });

        assert_eq!(admitted, PAIR_ATTEMPTS as usize);
    }

    #[test]
    fn a_success_gives_its_reservation_back_and_clears_its_pair() {
        let throttle = LoginThrottle::default();
        let ada = attempt("ada@example.com", "10.0.0.1");
        fail(&throttle, &ada, PAIR_ATTEMPTS - 1, START);

        let reservation = throttle.reserve(&ada, START).expect("fifth");
        throttle.succeed(reservation, START);

        fail(&throttle, &ada, PAIR_ATTEMPTS, START);
        let state = throttle.lock();
        let address: IpAddr = "10.0.0.1".parse().expect("address");
        assert_eq!(state.addresses.windows[&address].attempts, 2 * PAIR_ATTEMPTS - 1, "the success is not counted");
    }

    #[test]
    fn a_released_reservation_counts_nothing() {
        let throttle = LoginThrottle::default();
        let ada = attempt("ada@example.com", "10.0.0.1");

        for _ in 0..3 * PAIR_ATTEMPTS {
            let reservation = throttle.reserve(&ada, START).expect("never counted");
            throttle.release(reservation);
        }

        fail(&throttle, &ada, PAIR_ATTEMPTS, START);
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

        for n in 0..ADDRESS_ATTEMPTS {
            fail(&throttle, &attempt(&format!("user{n}@example.com"), &format!("2001:db8:1:2::{n:x}")), 1, START);
        }

        let same = attempt("user99@example.com", "2001:db8:1:2:abcd::1");
        assert!(refused_for(throttle.reserve(&same, START)).is_some(), "the same /64 is refused");
        assert!(throttle.reserve(&attempt("user99@example.com", "2001:db8:1:3::1"), START).is_ok(), "the next is not");
    }

    #[test]
    fn every_map_stays_within_its_key_limit_dropping_the_oldest_first() {
        let throttle = LoginThrottle::default();
        let extra = 1_000;

        for n in 0..MAX_TRACKED_KEYS + extra {
            let n = u32::try_from(n).expect("small");
            let address = IpAddr::from(n.to_be_bytes());
            let at = START + Duration::milliseconds(i64::from(n));
            let reservation = throttle.reserve(&Attempt::new("acme", &format!("u{n}@x.test"), Some(address)), at);
            throttle.succeed(reservation.expect("fresh keys"), at);
        }

        let state = throttle.lock();
        for (name, len) in [
            ("pairs", state.pairs.windows.len()),
            ("addresses", state.addresses.windows.len()),
            ("accounts", state.accounts.windows.len()),
            ("known", state.known.len()),
        ] {
            assert!(len <= MAX_TRACKED_KEYS, "{name}: {len}");
        }
        assert!(!state.addresses.windows.contains_key(&IpAddr::from(0u32.to_be_bytes())), "the oldest went first");
    }
}
