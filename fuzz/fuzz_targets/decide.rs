//! See `graygate_fuzz::decide`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graygate_fuzz::decide(data));
