//! See `graygate_fuzz::policy_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graygate_fuzz::policy_json(data));
