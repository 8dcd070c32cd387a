//! The embedded store across processes and crashes: writers in several
//! processes share one directory without losing an update, and a writer
//! killed with SIGKILL at any moment leaves a whole, compilable version.
//!
//! The writer processes are this test binary re-executed with
//! `GRAYGATE_TEST_WRITER_DIR` set, running [`writer_process`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use graygate_store::{Change, EmbeddedOptions, EmbeddedStore, PolicyStore, StoreError};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::policies::policy;
use support::{bounded, wait_until};

const DIR_ENV: &str = "GRAYGATE_TEST_WRITER_DIR";
const WRITES_ENV: &str = "GRAYGATE_TEST_WRITER_WRITES";
/// Users in each written policy: large enough documents (~150 KB) that a
/// kill often lands in the middle of a write.
const USERS: usize = 8000;

fn options(history: usize) -> EmbeddedOptions {
    EmbeddedOptions {
        history,
        poll_interval: None,
    }
}

/// Not a test of its own: the body of a writer process. It saves versions in
/// a loop (forever, or `GRAYGATE_TEST_WRITER_WRITES` wins) and prints the
/// versions it won. In a normal test run it returns at once.
#[test]
fn writer_process() {
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let writes: u64 = std::env::var(WRITES_ENV).map_or(0, |w| w.parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(&dir, options(1000)).await.unwrap();
        let mut won = 0u64;
        while writes == 0 || won < writes {
            let current = store.load().await.unwrap().map_or(0, |c| c.version());
            let p = policy(u16::try_from(current % 100).unwrap(), USERS);
            match store
                .save(&p, current, Change::new(std::process::id().to_string(), "loop"))
                .await
            {
                Ok(saved) => {
                    won += 1;
                    println!("won {}", saved.version());
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
    });
}

fn spawn_writer(dir: &Path, writes: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "writer_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(DIR_ENV, dir)
        .env(WRITES_ENV, writes.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("versions"))
        .map(|d| {
            d.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
                .count()
        })
        .unwrap_or(0)
}

/// Every kept version of the store in `dir` reads whole and compiles;
/// returns the current version.
async fn check_whole(dir: &Path) -> u64 {
    let store = EmbeddedStore::open(dir, options(1000)).await.unwrap();
    let current = store.load().await.unwrap().expect("a version");
    current.compile().unwrap();
    assert_eq!(
        current.policy().unwrap(),
        policy(u16::try_from((current.version() - 1) % 100).unwrap(), USERS)
    );
    for meta in store.history(1000).await.unwrap() {
        let v = store.get(meta.version).await.unwrap().unwrap();
        v.compile().unwrap();
    }
    assert_eq!(temp_files(dir), 0, "opening removes torn temporaries");
    current.version()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_at_any_moment_leaves_a_whole_version() {
    let dir = tempfile::tempdir().unwrap();
    let seed = EmbeddedStore::open(dir.path(), options(1000)).await.unwrap();
    seed.save(&policy(0, USERS), 0, Change::new("seed", "v1"))
        .await
        .unwrap();
    drop(seed);
    let probe = EmbeddedStore::open(dir.path(), options(1000)).await.unwrap();
    let mut last = 1;
    let mut torn = 0;
    let mut rounds = 0u64;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    // Until a few kills have landed mid-write (a temporary file left behind),
    // within a bounded number of rounds.
    while rounds < 12 || (torn < 2 && rounds < 40) {
        rounds += 1;
        let mut child = spawn_writer(dir.path(), 0);
        // Let it write at least one version, then kill it at a varying moment.
        let before = last;
        bounded("writer progress", async {
            loop {
                if probe.load().await.unwrap().is_some_and(|c| c.version() > before) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_micros(rng % 30_000)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        torn += temp_files(dir.path());
        let now = check_whole(dir.path()).await;
        assert!(now >= last, "versions never go backwards ({now} < {last})");
        last = now;
    }
    eprintln!("{rounds} kills, {torn} of them mid-write, final version {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_in_two_processes_never_share_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let children = [spawn_writer(dir.path(), 15), spawn_writer(dir.path(), 15)];
    let mut won = BTreeSet::new();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
        let out = bounded("writer process", out).await.unwrap();
        assert!(out.status.success());
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(v) = line.strip_prefix("won ") {
                assert!(won.insert(v.parse::<u64>().unwrap()), "version {v} won twice");
            }
        }
    }
    assert_eq!(won, (1..=30).collect(), "no lost update");
    assert_eq!(check_whole(dir.path()).await, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_in_one_process_get_one_winner_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for i in 0..4u16 {
        // Separate handles, as separate components of a process would open.
        let store = EmbeddedStore::open(dir.path(), options(1000)).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            while won.len() < 10 {
                let current = store.load().await.unwrap().map_or(0, |c| c.version());
                match store.save(&policy(i, 0), current, Change::default()).await {
                    Ok(s) => won.push(s.version()),
                    Err(StoreError::Conflict { expected, current: now }) => assert!(now > expected),
                    Err(e) => panic!("{e}"),
                }
            }
            won
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        for v in bounded("writers", t).await.unwrap() {
            assert!(all.insert(v));
        }
    }
    assert_eq!(all, (1..=40).collect());
}

#[tokio::test]
async fn a_watcher_in_another_process_sees_new_versions_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let reader = EmbeddedStore::open(
        dir.path(),
        EmbeddedOptions {
            history: 50,
            poll_interval: Some(Duration::from_millis(20)),
        },
    )
    .await
    .unwrap();
    let rx = reader.watch();
    let child = spawn_writer(dir.path(), 3);
    let out = bounded(
        "writer",
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .unwrap();
    assert!(out.status.success());
    wait_until("the reader to see version 3", || {
        rx.borrow().as_ref().is_some_and(|c| c.version() == 3)
    })
    .await;
}

#[tokio::test]
async fn a_gateway_on_the_embedded_store_applies_each_saved_version_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let config: graygate_store::StoreConfig = toml::from_str(&format!(
        "kind = \"embedded\"\ndir = {:?}\npoll_interval_ms = 50\nhistory = 5",
        dir.path()
    ))
    .unwrap();
    let opened = graygate_store::open(&config).await.unwrap();
    let mut applied = graygate_store::compiled(opened.updates.clone()).await;
    assert!(applied.borrow().is_none(), "nothing saved yet");
    for v in 0..3u64 {
        let p = policy(u16::try_from(v * 10).unwrap(), 0);
        opened.store.save(&p, v, Change::new("ana", "step")).await.unwrap();
        bounded("the version to be applied", async {
            while applied.borrow_and_update().as_ref().is_none_or(|c| c.version() <= v) {
                applied.changed().await.unwrap();
            }
        })
        .await;
        let now = applied.borrow().clone().unwrap();
        assert_eq!(now.version(), v + 1);
        assert_eq!(now.policy(), &p);
    }
    assert!(opened.store.status().is_connected());
}
