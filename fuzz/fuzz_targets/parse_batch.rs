//! The simulator's parser answers any text with statements or a server error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    if let Err(e) = drover::sim::parse::parse_batch(&sql) {
        assert!(e.number > 0 && !e.message.is_empty(), "{sql:?}: {e:?}");
    }
});
