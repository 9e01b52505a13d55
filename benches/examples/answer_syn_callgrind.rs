//! The "answer a stale Syn" scenario of `benches/benches/syn.rs`, run a fixed
//! number of times without criterion, for counting instructions: timing on
//! a shared machine moves by ±10 % between runs, instruction counts do not.
//!
//! ```sh
//! cargo build --release -p benches --example answer_syn_callgrind
//! valgrind --tool=callgrind --toggle-collect='*Scenario*answer_syn*' \
//!     target/release/examples/answer_syn_callgrind 1000
//! ```
//!
//! The collected total covers the twenty answers (`verify` answers by
//! `handle_datagram` directly, outside the toggle).

use benches::Scenario;
use hearsay_testkit::CountingSink;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut s = Scenario::build(n);
    let _ = s.verify();
    let mut sink = CountingSink::new();
    for _ in 0..20 {
        s.answer_syn(std::hint::black_box(&mut sink));
    }
}
