//! The short soak: mixed methods across HTTP/1.1, h2 and h3 origins with seeded faults;
//! every invariant of the ledger must hold. (The long run: `scripts/soak`.)

use plexus_tests::soak::{self, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_keeps_every_invariant() {
    plexus_tests::init_tracing();
    let config = SoakConfig {
        requests: 3_000,
        ..SoakConfig::default()
    };
    let ledger = soak::run(&config).await.expect("the soak starts");
    println!("{ledger}");
    assert!(ledger.violations.is_empty(), "{ledger}");
    assert_eq!(ledger.sent, 3_000);
    // The faults really happened: requests were retried and some failed.
    assert!(
        !ledger.retried.is_empty() && !ledger.failed.is_empty(),
        "{ledger}"
    );
}
