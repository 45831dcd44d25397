use std::sync::Arc;
use std::time::Duration;
use unmogrowp_bus::{Entry, EventLog, Offset, key_hash};

pub fn entry(app: &str, i: usize) -> Entry {
    Entry { key: format!("{app}:{i}"), payload: format!("{app} record {i}").into_bytes() }
}

pub async fn read_all(log: &dyn EventLog, from: Offset) -> Vec<(Offset, Vec<u8>)> {
    let mut reader = log.reader(from).await.unwrap();
    let mut all = Vec::new();
    loop {
        let batch = reader.next_batch(1000, Duration::from_millis(300)).await.unwrap();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

pub async fn appends_are_read_back_in_order_from_any_offset(log: Arc<dyn EventLog>) {
    assert_eq!(log.head(), 0);
    assert_eq!(log.append(vec![entry("a", 1), entry("b", 2)]).await.unwrap(), 2);
    assert_eq!(log.append(vec![entry("a", 3)]).await.unwrap(), 3);
    assert_eq!(log.head(), 3);
    let all = read_all(log.as_ref(), 1).await;
    assert_eq!(all.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(all[2].1, b"a record 3");
    let tail = read_all(log.as_ref(), 3).await;
    assert_eq!(tail.len(), 1);
    log.ping().await.unwrap();
    log.close().await;
}

pub async fn concurrent_appends_all_land(log: Arc<dyn EventLog>) {
    let mut tasks = Vec::new();
    for task in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for i in 0..40 {
                let app = format!("app{}", task % 4);
                offsets.push(log.append(vec![entry(&app, task * 1000 + i)]).await.unwrap());
            }
            offsets
        }));
    }
    let mut offsets = Vec::new();
    for task in tasks {
        offsets.extend(task.await.unwrap());
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=640).collect::<Vec<_>>());
    let all = read_all(log.as_ref(), 1).await;
    assert_eq!(all.len(), 640);
    // Each app's records come back in the order they were acknowledged.
    for task in 0..16usize {
        let mine: Vec<usize> = all
            .iter()
            .filter_map(|(_, payload)| {
                let text = String::from_utf8(payload.clone()).unwrap();
                let n: usize = text.rsplit(' ').next().unwrap().parse().unwrap();
                (n / 1000 == task).then_some(n % 1000)
            })
            .collect();
        assert_eq!(mine, (0..40).collect::<Vec<_>>());
    }
    log.close().await;
}

pub async fn readers_wait_for_new_records(log: Arc<dyn EventLog>) {
    let mut reader = log.reader(1).await.unwrap();
    assert!(reader.next_batch(10, Duration::from_millis(50)).await.unwrap().is_empty());
    let writer = log.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append(vec![entry("a", 1)]).await.unwrap();
    });
    let batch = reader.next_batch(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].0, 1);
    log.close().await;
}

pub async fn offsets_recent_keys_and_retention(log: Arc<dyn EventLog>) {
    for i in 0..40 {
        log.append(vec![entry("app", i)]).await.unwrap();
    }
    assert_eq!(log.committed("pipeline").await.unwrap(), 0);
    log.commit("pipeline", 25).await.unwrap();
    assert_eq!(log.committed("pipeline").await.unwrap(), 25);
    let keys = log.recent_keys(Duration::from_secs(60)).await.unwrap();
    assert_eq!(keys.len(), 40);
    assert!(keys.contains(&key_hash("app:7")));
    log.enforce_retention(Duration::ZERO).await.unwrap();
    let remaining = read_all(log.as_ref(), 26).await;
    assert_eq!(remaining.len(), 15, "nothing a consumer still needs was removed");
    assert_eq!(remaining[0].0, 26);
    log.close().await;
}

/// A processing consumer reads like a reader from its position and takes acks.
pub async fn consumers_read_from_their_position_and_take_acks(log: Arc<dyn EventLog>) {
    let entries: Vec<Entry> = (1..=5).map(|i| entry("app1", i)).collect();
    assert_eq!(log.append(entries).await.unwrap(), 5);
    let mut consumer = log.consumer("worker", 2).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let batch = consumer.next_batch(10, Duration::from_secs(5)).await.unwrap();
        assert!(!batch.is_empty(), "records 2..=5 arrive; got {seen:?}");
        seen.extend(batch.into_iter().map(|(offset, _)| offset));
    }
    assert_eq!(seen, vec![2, 3, 4, 5]);
    consumer.ack(3).await.unwrap();
    consumer.ack(5).await.unwrap();
    assert!(consumer.next_batch(10, Duration::from_millis(300)).await.unwrap().is_empty());
    log.close().await;
}

/// The consumers that committed are listed; a forgotten one no longer holds retention back
/// and reads as never committed.
pub async fn consumers_are_listed_and_forgotten(log: Arc<dyn EventLog>) {
    assert!(log.consumers().await.unwrap().is_empty());
    log.commit("pipeline", 3).await.unwrap();
    log.commit("pipeline-w0", 9).await.unwrap();
    log.commit("pipeline-w3", 1).await.unwrap();
    assert_eq!(log.consumers().await.unwrap(), vec!["pipeline", "pipeline-w0", "pipeline-w3"]);
    log.forget("pipeline-w3").await.unwrap();
    log.forget("pipeline").await.unwrap();
    log.forget("never-committed").await.unwrap();
    assert_eq!(log.consumers().await.unwrap(), vec!["pipeline-w0"]);
    assert_eq!(log.committed("pipeline-w3").await.unwrap(), 0);
    assert_eq!(log.committed("pipeline-w0").await.unwrap(), 9);
    log.close().await;
}
