//! [`EventFeed`]: this process's fan-out of outbox events to its live subscriptions.
//!
//! Events reach subscribers on every server process, whichever process committed them, because
//! each process reads them back from the outbox table rather than hearing about them in memory:
//! one poller per process ([`EventFeed::run`]) reads, every interval, the new events of each
//! tenant that has at least one subscriber on this process, and broadcasts them in-process;
//! each subscription keeps its own tenant's events of the kinds it streams.
//!
//! Reading per tenant keeps PostgreSQL's row-level security as it is for every other read (a
//! read-only transaction set to that tenant): one small indexed query per subscribed tenant per
//! interval, and none at all while nobody subscribes. A tenant with no subscriber here is never
//! read. (A cross-tenant read through a `SECURITY DEFINER` function would be one query for all
//! tenants, at the price of a function that bypasses the policy; per-tenant reads stay cheap
//! for the tenants one node serves.)
//!
//! An event's time is stamped before its transaction commits, so an event can become visible
//! after a later-stamped one. Each read therefore starts [`LOOKBACK`] before the newest event
//! already seen, and the events seen within that window are remembered so none is sent twice.
//! A transaction that stays open longer than the window, or clocks of two processes further
//! apart than it, could lose an event for live subscribers (the outbox row itself stays); a
//! subscription that falls more than [`CHANNEL_CAPACITY`] events behind ends, and the client
//! subscribes again.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::feed::{self, FeedEvent, FeedPosition};
use domain::ids::TenantId;
use futures_util::Stream;
use tokio::sync::{Notify, broadcast};

use crate::app::ports::AppPorts;
use crate::error::ApiError;

/// How far before the newest event seen each read starts, for events that commit late.
pub const LOOKBACK: time::Duration = time::Duration::seconds(5);
/// Events a subscription may lag behind before it is ended.
pub const CHANNEL_CAPACITY: usize = 1024;

/// What the poller knows of one tenant with subscribers on this process.
struct Watch {
    /// Live subscriptions of the tenant here.
    subscribers: usize,
    /// Nothing before this time is read: shortly before the first subscriber arrived.
    floor: time::OffsetDateTime,
    /// Events sent within [`LOOKBACK`] of the newest, so a read that sees one again skips it.
    seen: BTreeSet<FeedPosition>,
}

impl Watch {
    /// Where the next read starts.
    fn read_from(&self) -> FeedPosition {
        let start = self.seen.last().map_or(self.floor, |newest| (newest.at - LOOKBACK).max(self.floor));
        FeedPosition::before(start)
    }
}

/// This process's fan-out of outbox events to its subscriptions.
pub struct EventFeed {
    ports: AppPorts,
    sender: broadcast::Sender<Arc<FeedEvent>>,
    tenants: Mutex<HashMap<TenantId, Watch>>,
}

impl EventFeed {
    /// A feed reading through `ports`; it reads nothing until [`EventFeed::run`] runs.
    pub fn new(ports: AppPorts) -> Arc<EventFeed> {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Arc::new(EventFeed { ports, sender, tenants: Mutex::default() })
    }

    /// Reads new events every `interval` until `stop` is notified. A failed read is logged and
    /// tried again at the next interval, from where the last good one ended.
    pub async fn run(self: Arc<Self>, interval: Duration, stop: Arc<Notify>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.notified() => return,
                _ = ticks.tick() => {}
            }
            self.poll().await;
        }
    }

    /// One round: every watched tenant's new events, broadcast in order.
    async fn poll(&self) {
        let reads: Vec<(TenantId, FeedPosition)> =
            self.watches().iter().map(|(tenant, watch)| (*tenant, watch.read_from())).collect();
        for (tenant, from) in reads {
            let events = match feed::read_feed(&self.ports, tenant, from).await {
                Ok(events) => events,
                Err(err) => {
                    let err = ApiError::from(err);
                    tracing::warn!(code = err.code().as_str(), "reading the event feed failed; retrying next interval");
                    continue;
                }
            };
            let mut watches = self.watches();
            let Some(watch) = watches.get_mut(&tenant) else { continue };
            for event in events {
                if watch.seen.insert(event.position()) {
                    // No receiver is not a failure: the last subscriber may just have left.
                    let _ = self.sender.send(Arc::new(event));
                }
            }
            if let Some(newest) = watch.seen.last().copied() {
                watch.seen = watch.seen.split_off(&FeedPosition::before(newest.at - LOOKBACK));
            }
        }
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Watch>> {
        // The map stays consistent whatever panicked while holding it: every change is one step.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts streaming `tenant`'s events whose kind starts with `prefix` (`"order."`), from
    /// about now: events of the few seconds before may arrive too, none twice.
    pub fn subscribe(
        self: &Arc<Self>,
        tenant: TenantId,
        prefix: &'static str,
    ) -> impl Stream<Item = Arc<FeedEvent>> + use<> {
        let receiver = self.sender.subscribe();
        let now = self.ports.clock.now();
        self.watches()
            .entry(tenant)
            .or_insert_with(|| Watch { subscribers: 0, floor: now - LOOKBACK, seen: BTreeSet::new() })
            .subscribers += 1;
        let subscription = Subscription { feed: self.clone(), tenant, receiver };
        futures_util::stream::unfold(subscription, move |mut subscription| async move {
            let event = subscription.next(prefix).await?;
            Some((event, subscription))
        })
    }
}

/// One live subscription; leaving (dropping it) stops reading its tenant once it was the last.
struct Subscription {
    feed: Arc<EventFeed>,
    tenant: TenantId,
    receiver: broadcast::Receiver<Arc<FeedEvent>>,
}

impl Subscription {
    /// The next event of the tenant with a kind starting with `prefix`; `None` ends the stream.
    async fn next(&mut self, prefix: &str) -> Option<Arc<FeedEvent>> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if event.tenant == self.tenant && event.kind.starts_with(prefix) => return Some(event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a subscription fell behind the event feed and ends");
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut watches = self.feed.watches();
        if let Some(watch) = watches.get_mut(&self.tenant) {
            watch.subscribers = watch.subscribers.saturating_sub(1);
            if watch.subscribers == 0 {
                watches.remove(&self.tenant);
            }
        }
    }
}
