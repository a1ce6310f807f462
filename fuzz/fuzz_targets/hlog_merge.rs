//! The load command's interval-log reader (`wsppclient merge`, through
//! `Merged::add_log`): any bytes as another generator's HdrHistogram log.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsppclient::commands::load::hlog::Merged;

fuzz_target!(|data: &[u8]| {
    let mut merged = Merged::default();
    if merged.add_log(data).is_ok() {
        assert_eq!(merged.files, 1);
        assert!(merged.histogram.len() == 0 || merged.intervals > 0);
    }
});
