//! See `graygate_fuzz::policy_toml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| graygate_fuzz::policy_toml(data));
