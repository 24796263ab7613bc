//! Optional per-key rate limit (`VANE_RATE_LIMIT_RPS` > 0): a token bucket per API key in each
//! isolate. Over the limit → 429 with `Retry-After`, as OFREP says.

use std::collections::HashMap;

/// Buckets forgotten at once when this many keys are tracked (keeps memory bounded).
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Default)]
pub struct Limiter {
    per_second: f64,
    buckets: HashMap<String, (f64, i64)>,
}

impl Limiter {
    /// `per_second` requests per key and second, with a burst of the same size; 0 disables.
    pub fn new(per_second: u32) -> Limiter {
        Limiter { per_second: f64::from(per_second), buckets: HashMap::new() }
    }

    pub fn enabled(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes one token for `key` at `now_ms`; `Err(seconds)` to wait when there is none.
    pub fn take(&mut self, key: &str, now_ms: i64) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(key) {
            self.buckets.clear();
        }
        let rate = self.per_second;
        let (tokens, last) = self.buckets.entry(key.to_owned()).or_insert((rate, now_ms));
        let elapsed_s = (now_ms.saturating_sub(*last)).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed_s * rate).min(rate);
        *last = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / rate).ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_key_to_its_rate() {
        let mut l = Limiter::new(2);
        assert_eq!(l.take("a", 0), Ok(()));
        assert_eq!(l.take("a", 0), Ok(()));
        assert_eq!(l.take("a", 0), Err(1));
        assert_eq!(l.take("b", 0), Ok(()));
        assert_eq!(l.take("a", 500), Ok(()));
        let mut off = Limiter::new(0);
        assert!((0..100).all(|_| off.take("a", 0).is_ok()));
    }
}
