//! See `graygate_fuzz::attrs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graygate_fuzz::attrs(data));
