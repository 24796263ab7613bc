//! Which streams an edge keeps in memory: a budget, and which streams to let go when a new one
//! needs room. Host-independent (the Worker's isolate cache uses it; so can any other host).
//!
//! An edge never refuses a stream for lack of room: every application × environment a request
//! names is loaded, and the streams it holds are let go instead — first those idle longer than
//! [`Budget::idle_ms`], then the least recently used — until the count and the estimated memory
//! fit. A stream let go is loaded again (control plane, else KV) by the next request that needs
//! it. So touching many streams costs cold loads, never answers for the others.

/// What an edge may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Streams held at most.
    pub max_streams: usize,
    /// Estimated bytes of all streams held together (see [`footprint`]).
    pub max_bytes: usize,
    /// A stream unused this long is let go at the next opportunity.
    pub idle_ms: i64,
}

/// A Worker isolate has 128 MB; snapshots get half, the rest is the runtime's and requests'.
pub const WORKER_BUDGET: Budget = Budget { max_streams: 512, max_bytes: 64 << 20, idle_ms: 15 * 60 * 1000 };

/// Estimated memory of a stream whose snapshot body is `body_bytes` long: the body itself, the
/// compiled form and the bulk-answer fragments (each of the order of the body), plus the slot.
pub fn footprint(body_bytes: usize) -> usize {
    body_bytes.saturating_mul(3).saturating_add(4096)
}

/// One stream held, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<K> {
    pub key: K,
    pub last_used_ms: i64,
    pub bytes: usize,
}

/// The keys to let go so that everything in `held` that stays, plus `incoming` (a stream about
/// to be added or to grow, not in `held`), fits `budget` at `now_ms`: every idle stream, then
/// the least recently used, as many as needed. `incoming` itself is never chosen: a request
/// needs it now, even if it alone is over the budget.
pub fn to_release<K: Clone>(held: &[Held<K>], incoming: Option<usize>, now_ms: i64, budget: &Budget) -> Vec<K> {
    let mut order: Vec<&Held<K>> = held.iter().collect();
    order.sort_by_key(|h| h.last_used_ms);
    let mut count = held.len() + usize::from(incoming.is_some());
    let mut bytes: usize = held.iter().map(|h| h.bytes).sum::<usize>() + incoming.unwrap_or(0);
    let mut out = Vec::new();
    for h in order {
        let idle = now_ms.saturating_sub(h.last_used_ms) >= budget.idle_ms;
        let over = count > budget.max_streams || bytes > budget.max_bytes;
        if !idle && !over {
            // Sorted by last use: nothing after this one is idle either.
            break;
        }
        out.push(h.key.clone());
        count -= 1;
        bytes = bytes.saturating_sub(h.bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(key: u32, last_used_ms: i64, bytes: usize) -> Held<u32> {
        Held { key, last_used_ms, bytes }
    }

    const BUDGET: Budget = Budget { max_streams: 3, max_bytes: 1000, idle_ms: 10_000 };

    #[test]
    fn room_is_made_by_least_recent_use() {
        let h = [held(1, 300, 10), held(2, 100, 10), held(3, 200, 10)];
        assert_eq!(to_release(&h, None, 1000, &BUDGET), Vec::<u32>::new(), "fits");
        assert_eq!(to_release(&h, Some(10), 1000, &BUDGET), vec![2], "one more stream than allowed");
        // Memory: 30 held + 990 incoming is over 1000 until two go.
        assert_eq!(to_release(&h, Some(990), 1000, &BUDGET), vec![2, 3]);
        // Over the budget on its own: everything else goes, it stays.
        assert_eq!(to_release(&h, Some(5000), 1000, &BUDGET), vec![2, 3, 1]);
    }

    #[test]
    fn idle_streams_go_first_whatever_the_room() {
        let h = [held(1, 20_000, 10), held(2, 1_000, 10)];
        assert_eq!(to_release(&h, None, 20_500, &BUDGET), vec![2], "idle for 19.5 s");
        assert_eq!(to_release(&h, None, 5_000, &BUDGET), Vec::<u32>::new());
    }

    #[test]
    fn footprints_grow_with_the_body() {
        assert!(footprint(1_000_000) > 3_000_000);
        assert_eq!(footprint(usize::MAX), usize::MAX, "saturates");
    }
}
