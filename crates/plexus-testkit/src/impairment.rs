//! What a [`UdpRelay`](crate::UdpRelay) does to the datagrams it carries: the model of one
//! direction of an impaired link — a bottleneck with a drop-tail queue, a propagation
//! delay, random loss in bursts, and periods in which nothing gets through — since the
//! kernel here has no netem.
//!
//! The loss is pseudo-random from a seed, so a run can be repeated exactly.

use std::time::Duration;

use tokio::time::Instant;

/// How the relay impairs its link. The default is a perfect link.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// One-way propagation delay, each direction.
    pub delay: Duration,
    /// The bottleneck's rate in bits per second, each direction; `None`: unlimited.
    pub bandwidth: Option<u64>,
    /// The bottleneck's queue, in bytes: a datagram that would wait behind more is dropped
    /// (drop-tail). Only with a `bandwidth`.
    pub queue_bytes: usize,
    /// Random loss, each direction.
    pub loss: Option<Loss>,
    /// Periods in which the link drops everything, both directions at once.
    pub blackhole: Option<Blackhole>,
    /// NAT rebinding: the relay's side toward the server moves to a new port (or
    /// address) now and then, as the server sees it.
    pub rebind: Option<Rebind>,
    /// The seed of the loss.
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Impairment {
        Impairment {
            delay: Duration::ZERO,
            bandwidth: None,
            queue_bytes: 25 * 1500,
            loss: None,
            blackhole: None,
            rebind: None,
            seed: 1,
        }
    }
}

impl Impairment {
    /// Only a delay: `rtt` of round trip.
    pub fn round_trip(rtt: Duration) -> Impairment {
        Impairment {
            delay: rtt / 2,
            ..Impairment::default()
        }
    }
}

/// Random loss: each datagram starts a loss event with probability `percent`/100; an
/// event drops 1 to `burst` datagrams in a row (uniformly); and no more than
/// `max_in_a_row` are ever dropped in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// The chance, in percent, that a datagram starts a loss event.
    pub percent: u32,
    /// The longest loss event, at least 1 (1: every datagram is lost independently).
    pub burst: u32,
    /// A cap on datagrams lost in a row, if any.
    pub max_in_a_row: Option<u32>,
}

impl Loss {
    /// Each datagram lost independently, with probability `percent`/100.
    pub fn independent(percent: u32) -> Loss {
        Loss {
            percent,
            burst: 1,
            max_in_a_row: None,
        }
    }

    /// The QUIC interop runner's `drop-rate` model: each datagram lost with probability
    /// `percent`/100, but never more than `max_in_a_row` in a row.
    pub fn capped(percent: u32, max_in_a_row: u32) -> Loss {
        Loss {
            max_in_a_row: Some(max_in_a_row),
            ..Loss::independent(percent)
        }
    }

    /// Correlated loss: `percent`/100 of the datagrams start a burst of 1 to `burst`.
    pub fn bursts(percent: u32, burst: u32) -> Loss {
        Loss {
            burst,
            ..Loss::independent(percent)
        }
    }
}

/// A link that is up for `up`, then down (drops everything) for `down`, and again, from
/// the moment the relay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blackhole {
    /// How long the link carries datagrams.
    pub up: Duration,
    /// How long it then drops them all.
    pub down: Duration,
}

/// Moves the relay's upstream socket every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebind {
    /// How often.
    pub every: Duration,
    /// Change the IP address as well as the port (127.0.0.1 and 127.0.0.2 in turn; an
    /// IPv6 target gets a new port only).
    pub address: bool,
}

/// Why a datagram did not get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// Random loss.
    Lost,
    /// The link was down.
    Blackholed,
    /// The bottleneck's queue was full.
    QueueFull,
}

/// One direction of the link.
#[derive(Debug)]
pub(crate) struct Link {
    impairment: Impairment,
    epoch: Instant,
    rng: u64,
    burst_left: u32,
    lost_in_a_row: u32,
    /// When the bottleneck finishes sending what it has queued.
    free_at: Instant,
}

impl Link {
    /// A direction of the link; `epoch` is when the blackhole schedule starts, `salt`
    /// sets the direction's own loss pattern.
    pub(crate) fn new(impairment: Impairment, epoch: Instant, salt: u64) -> Link {
        Link {
            rng: (impairment.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
            impairment,
            epoch,
            burst_left: 0,
            lost_in_a_row: 0,
            free_at: epoch,
        }
    }

    /// A datagram of `len` bytes arrives at `now`: when it leaves the link's far end, or
    /// why it never does.
    pub(crate) fn admit(&mut self, now: Instant, len: usize) -> Result<Instant, Dropped> {
        if self.is_down(now) {
            return Err(Dropped::Blackholed);
        }
        if self.lose() {
            return Err(Dropped::Lost);
        }
        let departs = match self.impairment.bandwidth {
            Some(bits_per_second) if bits_per_second > 0 => {
                let start = self.free_at.max(now);
                let waiting = start.duration_since(now);
                let queued = waiting.as_secs_f64() * bits_per_second as f64 / 8.0;
                if queued > self.impairment.queue_bytes as f64 {
                    return Err(Dropped::QueueFull);
                }
                let sending = Duration::from_secs_f64(len as f64 * 8.0 / bits_per_second as f64);
                self.free_at = start + sending;
                self.free_at
            }
            _ => now,
        };
        Ok(departs + self.impairment.delay)
    }

    fn is_down(&self, now: Instant) -> bool {
        let Some(b) = self.impairment.blackhole else {
            return false;
        };
        let period = b.up + b.down;
        if period.is_zero() || b.down.is_zero() {
            return false;
        }
        let into = now.duration_since(self.epoch).as_nanos() % period.as_nanos();
        into >= b.up.as_nanos()
    }

    fn lose(&mut self) -> bool {
        let Some(loss) = self.impairment.loss else {
            return false;
        };
        let lost = if loss
            .max_in_a_row
            .is_some_and(|cap| self.lost_in_a_row >= cap)
        {
            self.burst_left = 0;
            false
        } else if self.burst_left > 0 {
            self.burst_left -= 1;
            true
        } else if self.next_random() % 100 < u64::from(loss.percent) {
            let longest = u64::from(loss.burst.max(1));
            self.burst_left = (self.next_random() % longest) as u32;
            true
        } else {
            false
        };
        self.lost_in_a_row = if lost { self.lost_in_a_row + 1 } else { 0 };
        lost
    }

    /// xorshift64*: plenty for a loss pattern.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(impairment: Impairment) -> (Link, Instant) {
        let epoch = Instant::now();
        (Link::new(impairment, epoch, 0), epoch)
    }

    #[test]
    fn a_perfect_link_only_delays() {
        let (mut l, t0) = link(Impairment::round_trip(Duration::from_millis(30)));
        for i in 0..1000 {
            let now = t0 + Duration::from_millis(i);
            assert_eq!(l.admit(now, 1200), Ok(now + Duration::from_millis(15)));
        }
    }

    /// 100,000 datagrams through `loss`: how many were lost, and the longest run lost.
    fn lose_some(loss: Loss) -> (usize, usize) {
        let (mut l, t0) = link(Impairment {
            loss: Some(loss),
            ..Impairment::default()
        });
        let outcomes: Vec<bool> = (0..100_000).map(|_| l.admit(t0, 100).is_err()).collect();
        let lost = outcomes.iter().filter(|x| **x).count();
        let longest_run = outcomes
            .split(|lost| !lost)
            .map(<[bool]>::len)
            .max()
            .unwrap_or(0);
        (lost, longest_run)
    }

    #[test]
    fn independent_loss_is_near_the_asked_rate() {
        let (lost, _) = lose_some(Loss::independent(2));
        assert!((1_600..2_400).contains(&lost), "{lost}");
    }

    #[test]
    fn burst_loss_comes_in_bursts() {
        // Bursts of 1..=5 (mean 3) started by 10 % of the datagrams that get through:
        // 30 / 130 of them lost.
        let (lost, longest_run) = lose_some(Loss::bursts(10, 5));
        assert!((20_000..26_000).contains(&lost), "{lost}");
        assert!(longest_run >= 5, "no bursts: {longest_run}");
    }

    #[test]
    fn capped_loss_never_drops_more_in_a_row() {
        let (lost, longest_run) = lose_some(Loss::capped(30, 3));
        assert!((27_000..31_000).contains(&lost), "{lost}");
        assert_eq!(longest_run, 3);
    }

    #[test]
    fn the_same_seed_loses_the_same_datagrams() {
        let imp = Impairment {
            loss: Some(Loss::bursts(30, 3)),
            ..Impairment::default()
        };
        let (mut a, t0) = link(imp.clone());
        let mut b = Link::new(imp, t0, 0);
        for _ in 0..1000 {
            assert_eq!(a.admit(t0, 1), b.admit(t0, 1));
        }
    }

    #[test]
    fn the_blackhole_drops_everything_while_down() {
        let (mut l, t0) = link(Impairment {
            blackhole: Some(Blackhole {
                up: Duration::from_millis(500),
                down: Duration::from_millis(200),
            }),
            ..Impairment::default()
        });
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(l.admit(at(0), 1).is_ok());
        assert!(l.admit(at(499), 1).is_ok());
        assert_eq!(l.admit(at(500), 1), Err(Dropped::Blackholed));
        assert_eq!(l.admit(at(699), 1), Err(Dropped::Blackholed));
        assert!(l.admit(at(700), 1).is_ok());
        assert_eq!(l.admit(at(1250), 1), Err(Dropped::Blackholed));
    }

    #[test]
    fn the_bottleneck_paces_and_its_queue_overflows() {
        // 8 Mbit/s: a 1000-byte datagram takes 1 ms; the queue holds 5000 bytes.
        let (mut l, t0) = link(Impairment {
            bandwidth: Some(8_000_000),
            queue_bytes: 5000,
            ..Impairment::default()
        });
        let mut departures = Vec::new();
        let mut full = 0;
        for _ in 0..10 {
            match l.admit(t0, 1000) {
                Ok(t) => departures.push(t.duration_since(t0).as_micros()),
                Err(Dropped::QueueFull) => full += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(departures, vec![1000, 2000, 3000, 4000, 5000, 6000]);
        assert_eq!(full, 4);
    }
}
