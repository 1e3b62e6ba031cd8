//! The decision core of one origin's scheduler: plain state, no I/O, time passed in.
//!
//! Inputs are method calls (`acquire`, `release`, `connected`, `connect_failed`, `update`,
//! `expire_idle`, `cancel`); outputs are [`Outcome`]s the async driver carries out
//! (hand a lease to a waiter, start connects, close retired connections, fail waiters).
//!
//! Rules:
//! * a request takes a free stream on a ready connection if there is one: the oldest
//!   multiplexed connection with room first (so load concentrates), else the most
//!   recently used idle HTTP/1.1 connection;
//! * otherwise it waits in a FIFO queue (retries go to its front), bounded by
//!   `max_queue`;
//! * while the origin's protocol is unknown at most one connect runs (single flight);
//!   once known, connects are started to cover the queue, up to the per-origin limit for
//!   the protocol (draining connections do not count), and never on the strength of an
//!   h2 limit that is still provisional;
//! * a connection drains (GOAWAY, `Connection: close`) until its last lease is released,
//!   then is retired; an idle connection past its idle limit is retired.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use plexus_core::{Capacity, ConnectionState, Error, Protocol};

/// The time a decision is taken at. Most decisions need none (a lease released on a
/// connection that stays busy, a stream taken on one): the driver passes a clock read only
/// when asked (reading it costs some 20 ns, a few percent of a small request), tests a
/// fixed [`Instant`].
pub(crate) trait Clock {
    fn now(&mut self) -> Instant;
}

impl Clock for Instant {
    fn now(&mut self) -> Instant {
        *self
    }
}

impl<C: Clock> Clock for &mut C {
    fn now(&mut self) -> Instant {
        (**self).now()
    }
}

/// Identifies a queued request.
pub(crate) type WaiterId = u64;
/// Identifies a connection within one origin.
pub(crate) type SlotId = u64;

/// The knobs the core decides with.
#[derive(Debug, Clone)]
pub(crate) struct CoreConfig {
    pub(crate) max_multiplexed: usize,
    pub(crate) max_http1: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_queue: usize,
}

/// A stream granted on a connection.
#[derive(Debug)]
pub(crate) struct LeaseInfo<T> {
    pub(crate) slot: SlotId,
    pub(crate) handle: T,
    pub(crate) reused: bool,
}

/// What the driver must do after an input.
#[derive(Debug)]
pub(crate) struct Outcome<T> {
    pub(crate) grants: Vec<(WaiterId, LeaseInfo<T>)>,
    pub(crate) failed: Vec<(WaiterId, Error)>,
    pub(crate) connects: usize,
    pub(crate) retire: Vec<T>,
}

impl<T> Default for Outcome<T> {
    fn default() -> Self {
        Outcome {
            grants: Vec::new(),
            failed: Vec::new(),
            connects: 0,
            retire: Vec::new(),
        }
    }
}

/// The answer to [`Core::acquire`].
#[derive(Debug)]
pub(crate) enum Acquired<T> {
    /// A stream is free now.
    Now(LeaseInfo<T>),
    /// Queued; the grant comes through an [`Outcome`].
    Queued(WaiterId),
    /// The queue is full.
    Full,
}

#[derive(Debug)]
struct Slot<T> {
    id: SlotId,
    handle: T,
    protocol: Protocol,
    leased: usize,
    limit: usize,
    limit_known: bool,
    state: ConnectionState,
    idle_since: Instant,
    idle_hint: Option<Duration>,
    served: u64,
}

/// A view of one connection for snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotView {
    pub(crate) id: SlotId,
    pub(crate) protocol: Protocol,
    pub(crate) state: ConnectionState,
    pub(crate) in_flight: usize,
    pub(crate) max_concurrent: usize,
    pub(crate) served: u64,
}

/// The scheduling state of one origin.
#[derive(Debug)]
pub(crate) struct Core<T> {
    cfg: CoreConfig,
    slots: Vec<Slot<T>>,
    connecting: usize,
    /// Learned from the first connection: does this origin multiplex?
    multiplexed: Option<bool>,
    /// The largest settled per-connection stream limit seen (multiplexed origins).
    learned_limit: Option<usize>,
    queue: VecDeque<WaiterId>,
    next_waiter: WaiterId,
    opened: u64,
    opened_by_protocol: Vec<(Protocol, u64)>,
}

impl<T: Clone> Core<T> {
    pub(crate) fn new(cfg: CoreConfig) -> Core<T> {
        Core {
            cfg,
            slots: Vec::new(),
            connecting: 0,
            multiplexed: None,
            learned_limit: None,
            queue: VecDeque::new(),
            next_waiter: 1,
            opened: 0,
            opened_by_protocol: Vec::new(),
        }
    }

    /// A request wants a stream. `retry` puts it at the front of the queue.
    pub(crate) fn acquire(
        &mut self,
        mut now: impl Clock,
        retry: bool,
    ) -> (Acquired<T>, Outcome<T>) {
        let mut out = Outcome::default();
        if self.queue.is_empty() || retry {
            if let Some(i) = self.pick(&mut now, &mut out) {
                return (Acquired::Now(self.lease(i)), out);
            }
        }
        if self.queue.len() >= self.cfg.max_queue {
            return (Acquired::Full, out);
        }
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        if retry {
            self.queue.push_front(waiter);
        } else {
            self.queue.push_back(waiter);
        }
        out.connects = self.plan_connects();
        (Acquired::Queued(waiter), out)
    }

    /// A queued request gave up (time-out or cancellation). False if it was no longer
    /// queued (it was granted or failed meanwhile).
    pub(crate) fn cancel(&mut self, waiter: WaiterId) -> bool {
        match self.queue.iter().position(|&w| w == waiter) {
            Some(i) => {
                self.queue.remove(i);
                true
            }
            None => false,
        }
    }

    /// A lease ended (response body finished or dropped, or the request failed). The
    /// caller passes what the connection says of itself now, so that a connection that
    /// began draining during the request (`Connection: close`, GOAWAY) is not handed to
    /// the next request.
    pub(crate) fn release(
        &mut self,
        slot: SlotId,
        capacity: Capacity,
        state: ConnectionState,
        idle_hint: Option<Duration>,
        mut now: impl Clock,
    ) -> Outcome<T> {
        if let Some(i) = self.index(slot) {
            let s = &mut self.slots[i];
            s.leased = s.leased.saturating_sub(1);
            if s.leased == 0 {
                s.idle_since = now.now();
            }
        }
        self.update(slot, capacity, state, idle_hint, now)
    }

    /// A connect finished.
    pub(crate) fn connected(
        &mut self,
        slot: SlotId,
        handle: T,
        protocol: Protocol,
        capacity: Capacity,
        mut now: Instant,
    ) -> Outcome<T> {
        self.connecting = self.connecting.saturating_sub(1);
        self.opened += 1;
        match self
            .opened_by_protocol
            .iter_mut()
            .find(|(p, _)| *p == protocol)
        {
            Some((_, n)) => *n += 1,
            None => self.opened_by_protocol.push((protocol, 1)),
        }
        self.multiplexed = Some(protocol.is_multiplexed());
        self.slots.push(Slot {
            id: slot,
            handle,
            protocol,
            leased: 0,
            limit: capacity.max_concurrent,
            limit_known: capacity.limit_known,
            state: ConnectionState::Ready,
            idle_since: now,
            idle_hint: None,
            served: 0,
        });
        self.learn_limit(capacity);
        let mut out = Outcome::default();
        self.dispatch(&mut now, &mut out);
        out
    }

    /// A connect failed. If nothing else can serve the queue (no ready connection and no
    /// other connect under way), every waiter fails with `error`. A failure never starts
    /// another connect by itself: with two connects under way to a server that refuses
    /// them, each failure would start a replacement and the queue would wait out its
    /// deadlines while the client hammered the port.
    pub(crate) fn connect_failed(&mut self, error: &Error, mut now: Instant) -> Outcome<T> {
        self.connecting = self.connecting.saturating_sub(1);
        let mut out = Outcome::default();
        let usable = self.slots.iter().any(|s| s.state == ConnectionState::Ready);
        if !usable && self.connecting == 0 {
            out.failed = self.queue.drain(..).map(|w| (w, error.clone())).collect();
        } else {
            self.grant_ready(&mut now, &mut out);
        }
        out
    }

    /// A connection's state or peer limit changed.
    pub(crate) fn update(
        &mut self,
        slot: SlotId,
        capacity: Capacity,
        state: ConnectionState,
        idle_hint: Option<Duration>,
        mut now: impl Clock,
    ) -> Outcome<T> {
        let mut out = Outcome::default();
        self.observe(slot, capacity, state, idle_hint, &mut out);
        self.dispatch(&mut now, &mut out);
        out
    }

    /// Records a connection's current state and limit without dispatching; a closed
    /// connection, or a draining one with no lease left, leaves the pool.
    fn observe(
        &mut self,
        slot: SlotId,
        capacity: Capacity,
        state: ConnectionState,
        idle_hint: Option<Duration>,
        out: &mut Outcome<T>,
    ) {
        let Some(i) = self.index(slot) else { return };
        let s = &mut self.slots[i];
        s.limit = capacity.max_concurrent;
        s.limit_known = capacity.limit_known;
        s.idle_hint = idle_hint;
        s.state = state;
        let gone = state == ConnectionState::Closed
            || (state == ConnectionState::Draining && s.leased == 0);
        if gone {
            let s = self.slots.remove(i);
            if state != ConnectionState::Closed {
                out.retire.push(s.handle);
            }
        }
        self.learn_limit(capacity);
    }

    /// Retires the connection if it has idled past its limit; returns it for closing.
    pub(crate) fn expire_idle(&mut self, slot: SlotId, mut now: Instant) -> Option<T> {
        let i = self.index(slot)?;
        if self.is_expired(&self.slots[i], &mut now) {
            Some(self.slots.remove(i).handle)
        } else {
            None
        }
    }

    /// When the connection's watcher should next look at its idleness: when it would idle
    /// out, if it is idle now; a whole idle limit from now while it is busy (it may go idle
    /// meanwhile without anyone waking the watcher, which then looks again at the latest
    /// by `idle_since + limit`); never without a limit.
    pub(crate) fn idle_check_at(&self, slot: SlotId, now: Instant) -> Option<Instant> {
        let s = &self.slots[self.index(slot)?];
        let limit = self.idle_limit(s)?;
        Some(if s.leased > 0 {
            now + limit
        } else {
            s.idle_since + limit
        })
    }

    /// True while the slot is pooled.
    pub(crate) fn contains(&self, slot: SlotId) -> bool {
        self.index(slot).is_some()
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn connecting(&self) -> usize {
        self.connecting
    }

    pub(crate) fn opened(&self) -> u64 {
        self.opened
    }

    pub(crate) fn opened_by_protocol(&self) -> Vec<(Protocol, u64)> {
        self.opened_by_protocol.clone()
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = SlotView> + '_ {
        self.slots.iter().map(|s| SlotView {
            id: s.id,
            protocol: s.protocol,
            state: s.state,
            in_flight: s.leased,
            max_concurrent: s.limit,
            served: s.served,
        })
    }

    /// Every pooled connection, for shutdown.
    pub(crate) fn drain_all(&mut self) -> Vec<T> {
        self.slots.drain(..).map(|s| s.handle).collect()
    }

    fn index(&self, slot: SlotId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == slot)
    }

    fn idle_limit(&self, s: &Slot<T>) -> Option<Duration> {
        match (self.cfg.idle_timeout, s.idle_hint) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn is_expired(&self, s: &Slot<T>, now: &mut impl Clock) -> bool {
        s.leased == 0
            && self
                .idle_limit(s)
                .is_some_and(|limit| now.now().saturating_duration_since(s.idle_since) >= limit)
    }

    /// The stream limit to schedule by. Before a new connection's peer has announced its
    /// limit, the limit this origin announced on earlier connections is used, so only the
    /// first connection to an origin pays a round trip of caution.
    fn effective_limit(&self, s: &Slot<T>) -> usize {
        match (s.limit_known, self.learned_limit) {
            (false, Some(learned)) if s.protocol.is_multiplexed() => learned,
            _ => s.limit,
        }
    }

    fn learn_limit(&mut self, capacity: Capacity) {
        if capacity.limit_known && self.multiplexed == Some(true) {
            let l = capacity.max_concurrent.max(1);
            self.learned_limit = Some(self.learned_limit.map_or(l, |old| old.max(l)));
        }
    }

    /// The connection to put the next request on, retiring expired idle ones found on the
    /// way.
    fn pick(&mut self, now: &mut impl Clock, out: &mut Outcome<T>) -> Option<usize> {
        let mut i = 0;
        let mut best: Option<usize> = None;
        while i < self.slots.len() {
            if self.is_expired(&self.slots[i], now) {
                out.retire.push(self.slots.remove(i).handle);
                continue;
            }
            let s = &self.slots[i];
            if s.state == ConnectionState::Ready && s.leased < self.effective_limit(s) {
                if s.protocol.is_multiplexed() {
                    // Oldest multiplexed connection with room: take it.
                    return Some(i);
                }
                // HTTP/1.1: most recently used idle connection.
                if best.is_none_or(|b| self.slots[b].idle_since <= s.idle_since) {
                    best = Some(i);
                }
            }
            i += 1;
        }
        best
    }

    fn lease(&mut self, i: usize) -> LeaseInfo<T> {
        let s = &mut self.slots[i];
        s.leased += 1;
        let reused = s.served > 0;
        s.served += 1;
        LeaseInfo {
            slot: s.id,
            handle: s.handle.clone(),
            reused,
        }
    }

    /// Hands free streams to the queue, head first, then plans connects for the rest.
    fn dispatch(&mut self, now: &mut impl Clock, out: &mut Outcome<T>) {
        self.grant_ready(now, out);
        out.connects += self.plan_connects();
    }

    /// Hands queued waiters streams on ready connections, as far as they go.
    fn grant_ready(&mut self, now: &mut impl Clock, out: &mut Outcome<T>) {
        while !self.queue.is_empty() {
            let Some(i) = self.pick(now, out) else { break };
            let waiter = self.queue.pop_front().expect("queue is not empty");
            out.grants.push((waiter, self.lease(i)));
        }
    }

    /// How many connects to start now for the queue; counts them as under way.
    fn plan_connects(&mut self) -> usize {
        if self.queue.is_empty() {
            return 0;
        }
        let ready = self
            .slots
            .iter()
            .filter(|s| s.state == ConnectionState::Ready);
        let want = match self.multiplexed {
            // Protocol unknown: single flight.
            None => usize::from(self.connecting == 0),
            Some(false) => {
                let room = self
                    .cfg
                    .max_http1
                    .saturating_sub(ready.count() + self.connecting);
                room.min(self.queue.len().saturating_sub(self.connecting))
            }
            Some(true) => {
                let mut usable = 0;
                let mut provisional = false;
                for s in ready {
                    usable += 1;
                    provisional |= !s.limit_known;
                }
                let room = self
                    .cfg
                    .max_multiplexed
                    .saturating_sub(usable + self.connecting);
                match self.learned_limit {
                    // The first connection is about to announce the limit: wait for it.
                    None if provisional => 0,
                    // No settled limit ever seen: one connect at a time.
                    None => usize::from(self.connecting == 0).min(room),
                    Some(per_conn) => {
                        let coming = self.connecting * per_conn;
                        let uncovered = self.queue.len().saturating_sub(coming);
                        room.min(uncovered.div_ceil(per_conn))
                    }
                }
            }
        };
        self.connecting += want;
        want
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_core::ErrorKind;

    fn cfg(max_multiplexed: usize) -> CoreConfig {
        CoreConfig {
            max_multiplexed,
            max_http1: 6,
            idle_timeout: Some(Duration::from_secs(90)),
            max_queue: 10_000,
        }
    }

    fn cap(max: usize, known: bool) -> Capacity {
        Capacity {
            in_flight: 0,
            max_concurrent: max,
            limit_known: known,
        }
    }

    fn queue_n(core: &mut Core<u32>, now: Instant, n: usize) -> usize {
        let mut connects = 0;
        for _ in 0..n {
            let (a, out) = core.acquire(now, false);
            assert!(matches!(a, Acquired::Queued(_)));
            connects += out.connects;
        }
        connects
    }

    #[test]
    fn cold_origin_connects_once_while_protocol_unknown() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        assert_eq!(queue_n(&mut core, t0, 200), 1, "single flight");
        assert_eq!(core.connecting(), 1);
    }

    #[test]
    fn http1_opens_up_to_the_pool_limit_once_known() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        queue_n(&mut core, t0, 100);
        let out = core.connected(1, 1, Protocol::Http1, cap(1, true), t0);
        assert_eq!(out.grants.len(), 1);
        assert_eq!(out.connects, 5, "six in all");
        for id in 2..=6u32 {
            let out = core.connected(u64::from(id), id, Protocol::Http1, cap(1, true), t0);
            assert_eq!(out.grants.len(), 1);
            assert_eq!(out.connects, 0);
        }
        assert_eq!(core.queued(), 94);
        // A release hands the connection straight to the queue head.
        let out = core.release(3, cap(1, true), ConnectionState::Ready, None, t0);
        assert_eq!(out.grants.len(), 1);
        assert_eq!(out.grants[0].1.slot, 3);
        assert!(out.grants[0].1.reused);
    }

    #[test]
    fn h2_respects_the_peer_limit_and_queues_fifo() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        queue_n(&mut core, t0, 500);
        // Provisional limit of 1 before SETTINGS.
        let out = core.connected(1, 1, Protocol::Http2, cap(1, false), t0);
        assert_eq!(out.grants.len(), 1);
        assert_eq!(out.connects, 0);
        let first = out.grants[0].0;
        let out = core.update(1, cap(8, true), ConnectionState::Ready, None, t0);
        assert_eq!(out.grants.len(), 7);
        assert!(out.grants.iter().all(|(w, _)| *w > first), "FIFO order");
        assert_eq!(out.connects, 0, "max_connections_per_origin = 1");
        let total: usize = core.slots().map(|s| s.in_flight).sum();
        assert_eq!(total, 8);
    }

    #[test]
    fn h2_spills_over_only_after_the_limit_is_known() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(4));
        queue_n(&mut core, t0, 500);
        let out = core.connected(1, 1, Protocol::Http2, cap(1, false), t0);
        assert_eq!(out.connects, 0, "limit still provisional");
        let out = core.update(1, cap(8, true), ConnectionState::Ready, None, t0);
        assert_eq!(out.connects, 3, "up to four connections");
        for id in 2..=4u32 {
            core.connected(u64::from(id), id, Protocol::Http2, cap(8, true), t0);
        }
        let views: Vec<_> = core.slots().collect();
        assert_eq!(views.len(), 4);
        assert!(views.iter().all(|v| v.in_flight == 8));
        assert_eq!(core.queued(), 500 - 32);
    }

    #[test]
    fn later_connections_use_the_limit_learned_from_earlier_ones() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        core.acquire(t0, false);
        core.connected(1, 1, Protocol::Http2, cap(1, false), t0);
        core.update(1, cap(8, true), ConnectionState::Ready, None, t0);
        core.update(1, cap(8, true), ConnectionState::Closed, None, t0);
        queue_n(&mut core, t0, 20);
        // The next connection reports a provisional limit of 1, but the origin said 8.
        let out = core.connected(2, 2, Protocol::Http2, cap(1, false), t0);
        assert_eq!(out.grants.len(), 8);
    }

    #[test]
    fn goaway_drains_and_a_new_connection_takes_new_requests() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        let (a, out) = core.acquire(t0, false);
        assert!(matches!(a, Acquired::Queued(_)));
        assert_eq!(out.connects, 1);
        core.connected(1, 1, Protocol::Http2, cap(100, true), t0);
        let out = core.update(1, cap(100, true), ConnectionState::Draining, None, t0);
        assert!(out.retire.is_empty(), "a stream is still in flight");
        let (a, out) = core.acquire(t0, false);
        assert!(matches!(a, Acquired::Queued(_)));
        assert_eq!(out.connects, 1, "the draining connection does not count");
        let out = core.release(1, cap(100, true), ConnectionState::Draining, None, t0);
        assert_eq!(
            out.retire,
            vec![1],
            "drained connection retired at its last release"
        );
    }

    #[test]
    fn idle_connections_expire_by_pool_timeout_or_server_hint() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        core.acquire(t0, false);
        core.connected(1, 1, Protocol::Http1, cap(1, true), t0);
        core.release(
            1,
            cap(1, true),
            ConnectionState::Ready,
            Some(Duration::from_millis(750)),
            t0,
        );
        let later = t0 + Duration::from_millis(10);
        assert_eq!(
            core.idle_check_at(1, later),
            Some(t0 + Duration::from_millis(750)),
            "idle: look when it would idle out"
        );
        assert_eq!(core.expire_idle(1, t0 + Duration::from_millis(700)), None);
        // A request arriving after the hint does not get the stale connection.
        let (a, out) = core.acquire(t0 + Duration::from_millis(800), false);
        assert!(matches!(a, Acquired::Queued(_)));
        assert_eq!(out.retire, vec![1]);
        assert_eq!(out.connects, 1);
    }

    #[test]
    fn a_busy_connection_is_looked_at_again_a_whole_idle_limit_later() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        core.acquire(t0, false);
        core.connected(1, 1, Protocol::Http1, cap(1, true), t0);
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(
            core.idle_check_at(1, t1),
            Some(t1 + Duration::from_secs(90)),
            "busy: the watcher looks again a whole limit later"
        );
    }

    #[test]
    fn failed_connect_fails_the_queue_when_nothing_else_can_serve() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(cfg(1));
        queue_n(&mut core, t0, 3);
        let err = Error::new(ErrorKind::Connect);
        let out = core.connect_failed(&err, t0);
        assert_eq!(out.failed.len(), 3);
        assert_eq!(core.queued(), 0);
        // The next request tries again.
        let (_, out) = core.acquire(t0, false);
        assert_eq!(out.connects, 1);
    }

    #[test]
    fn retries_jump_the_queue_and_queue_is_bounded() {
        let t0 = Instant::now();
        let mut core = Core::<u32>::new(CoreConfig {
            max_queue: 2,
            ..cfg(1)
        });
        let (a, _) = core.acquire(t0, false);
        let Acquired::Queued(first) = a else {
            panic!("queued")
        };
        core.acquire(t0, false);
        assert!(matches!(core.acquire(t0, false).0, Acquired::Full));
        assert!(core.cancel(first));
        let (a, _) = core.acquire(t0, true);
        let Acquired::Queued(retry) = a else {
            panic!("queued")
        };
        let out = core.connected(1, 1, Protocol::Http1, cap(1, true), t0);
        assert_eq!(out.grants[0].0, retry);
    }
}
