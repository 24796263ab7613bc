//! Ingest, both engines in alternation: each round reads the same Unleash document once with
//! Vane (`unleash::compile_str`) and once with Yggdrasil (parse + `take_state`), in alternating
//! order, and the round's ratio is Yggdrasil's time over Vane's. The median of the rounds' ratios
//! is the figure BENCHMARKS.md reports beside criterion's rows.
//!
//! Why beside criterion: criterion measures one engine's row after the other, a few seconds each.
//! On a shared VM whose speed changes for a second or so at a time, one engine's window can fall
//! into a slow spell the other's misses, and the ratio of the two rows moves with it (8.6–14.6× at
//! 10k over thirteen runs of unchanged code). Here every round puts both engines under the same
//! conditions, and each Vane read starts after a Yggdrasil read has been through the caches and
//! the allocator (none of Vane's previous result is warm), so the figure is, if anything, harsh
//! on Vane.
//!
//! `cargo bench -p vane-unleash-bench --bench paired` (or `cargo xtask bench-unleash`, which runs
//! it after criterion). Extra arguments are ignored.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark's setup may stop on bad input
#![allow(clippy::print_stdout)] // the report is its output

use std::hint::black_box;
use std::time::Instant;

use vane_unleash_bench::{mixed, state};

mod engines;
use engines::{vane, yggdrasil};

/// Seconds one call takes; its result is dropped after the clock stops.
fn time<R>(f: impl FnOnce() -> R) -> f64 {
    let start = Instant::now();
    let out = black_box(f());
    let t = start.elapsed().as_secs_f64();
    drop(out);
    t
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn main() {
    println!("ingest, Vane and Yggdrasil alternating (median [quartiles] over the rounds)");
    for (n, rounds) in [(1_000usize, 200usize), (10_000, 40)] {
        let text = state((0..n).map(mixed).collect());
        // Both read it, and a round of each warms code and allocator before anything counts.
        assert_eq!(vane(&text).flag_count(), n);
        drop(yggdrasil(&text));
        let (mut vs, mut ys, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (v, y) = if round % 2 == 0 {
                let v = time(|| vane(black_box(&text)));
                (v, time(|| yggdrasil(black_box(&text))))
            } else {
                let y = time(|| yggdrasil(black_box(&text)));
                (time(|| vane(black_box(&text))), y)
            };
            vs.push(v);
            ys.push(y);
            ratios.push(y / v);
        }
        let (vs, ys, ratios) = (sorted(vs), sorted(ys), sorted(ratios));
        let ms = |s: &[f64], q| quantile(s, q) * 1e3;
        let below = ratios.iter().filter(|r| **r < 10.0).count();
        println!(
            "  {n:>6} flags, {rounds} rounds: vane {:.2} ms [{:.2}–{:.2}], yggdrasil {:.1} ms [{:.1}–{:.1}], \
             ratio {:.1}× [{:.1}–{:.1}] ({below} of {rounds} rounds below 10×)",
            ms(&vs, 0.5),
            ms(&vs, 0.25),
            ms(&vs, 0.75),
            ms(&ys, 0.5),
            ms(&ys, 0.25),
            ms(&ys, 0.75),
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
        );
    }
}
