use super::*;
use crate::testutil::{policy, policy_with_canary};

async fn store(dir: &Path, history: usize) -> EmbeddedStore {
    let options = EmbeddedOptions {
        history,
        poll_interval: None,
    };
    EmbeddedStore::open(dir, options).await.unwrap()
}

#[tokio::test]
async fn an_empty_store_has_no_policy_and_version_zero_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 50).await;
    assert!(s.load().await.unwrap().is_none());
    let saved = s.save(&policy(), 0, Change::new("ana", "first")).await.unwrap();
    assert_eq!(saved.version(), 1);
    let loaded = s.load().await.unwrap().unwrap();
    assert_eq!(loaded, saved);
    assert_eq!(loaded.policy().unwrap(), policy());
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_naming_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 50).await;
    s.save(&policy(), 0, Change::default()).await.unwrap();
    s.save(&policy_with_canary(10), 1, Change::default()).await.unwrap();
    let err = s.save(&policy_with_canary(20), 1, Change::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                current: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        s.load().await.unwrap().unwrap().policy().unwrap(),
        policy_with_canary(10)
    );
}

#[tokio::test]
async fn a_policy_that_does_not_compile_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 50).await;
    let mut bad = policy();
    bad.routes[0].default = "nope".into();
    let err = s.save(&bad, 0, Change::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(s.load().await.unwrap().is_none());
}

#[tokio::test]
async fn history_keeps_the_last_n_versions_newest_first_with_who_and_what() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 3).await;
    for v in 0..5u64 {
        let p = policy_with_canary(u16::try_from(v).unwrap() * 10);
        s.save(&p, v, Change::new(format!("op{v}"), format!("step {v}")))
            .await
            .unwrap();
    }
    let h = s.history(10).await.unwrap();
    let versions: Vec<u64> = h.iter().map(|m| m.version).collect();
    assert_eq!(versions, [5, 4, 3]);
    assert_eq!(h[0].who, "op4");
    assert_eq!(h[0].summary, "step 4");
    assert!(h[0].when_ms > 0);
    assert_eq!(s.history(1).await.unwrap().len(), 1);
    assert!(s.get(1).await.unwrap().is_none(), "trimmed");
    let v3 = s.get(3).await.unwrap().unwrap();
    assert_eq!(v3.policy().unwrap(), policy_with_canary(20));
}

#[tokio::test]
async fn versions_survive_reopening_and_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = store(dir.path(), 1).await;
        s.save(&policy(), 0, Change::default()).await.unwrap();
        s.save(&policy(), 1, Change::default()).await.unwrap();
    }
    let s = store(dir.path(), 1).await;
    assert_eq!(s.load().await.unwrap().unwrap().version(), 2);
    assert_eq!(s.save(&policy(), 2, Change::default()).await.unwrap().version(), 3);
}

#[tokio::test]
async fn watchers_see_each_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 50).await;
    let mut rx = s.watch();
    assert!(rx.borrow_and_update().is_none());
    s.save(&policy(), 0, Change::default()).await.unwrap();
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow_and_update().as_ref().unwrap().version(), 1);
}

#[tokio::test]
async fn polling_notices_a_write_by_another_store_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history: 50,
        poll_interval: Some(Duration::from_millis(20)),
    };
    let reader = EmbeddedStore::open(dir.path(), options).await.unwrap();
    let writer = store(dir.path(), 50).await;
    let mut rx = reader.watch();
    writer.save(&policy(), 0, Change::default()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rx.borrow().as_ref().unwrap().version(), 1);
}

#[tokio::test]
async fn a_rollback_saves_the_old_document_as_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 50).await;
    s.save(&policy_with_canary(5), 0, Change::default()).await.unwrap();
    s.save(&policy_with_canary(50), 1, Change::default()).await.unwrap();
    let back = s.rollback(1, 2, Change::new("ana", "rollback to 1")).await.unwrap();
    assert_eq!(back.version(), 3);
    assert_eq!(back.policy().unwrap(), policy_with_canary(5));
    assert!(matches!(
        s.rollback(9, 3, Change::default()).await,
        Err(StoreError::UnknownVersion(9))
    ));
    assert!(matches!(
        s.rollback(1, 2, Change::default()).await,
        Err(StoreError::Conflict {
            expected: 2,
            current: 3
        })
    ));
}
