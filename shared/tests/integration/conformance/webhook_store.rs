//! What every `WebhookStore` must do: the cap on endpoints under a burst,
//! versioned updates, idempotent delivery inserts, the due list, the
//! order of a subject's pending deliveries, and deletes that take the
//! endpoint's deliveries with them.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use shared::domain::{
    DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint, WebhookEndpointId, WebhookSecret,
};
use shared::ports::{PortError, WebhookStore};

use super::unique_org;

pub fn endpoint(org: &str) -> WebhookEndpoint {
    let now = Utc::now();
    WebhookEndpoint {
        id: WebhookEndpointId::generate(now.date_naive()).to_string(),
        org_id: org.to_string(),
        url: "https://hooks.example.org/bufdir".into(),
        event_types: vec!["export.completed".into(), "export.failed".into()],
        description: Some("Økonomisystemet".into()),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        disabled_at: None,
        created_at: now,
        created_by: "conformance".into(),
        updated_at: now,
        secrets: vec![WebhookSecret { value: "whsec_test".into(), expires_at: None }],
        version: 1,
    }
}

pub fn delivery(endpoint: &WebhookEndpoint, n: u32, subject: &str, due: DateTime<Utc>) -> WebhookDelivery {
    WebhookDelivery {
        id: format!("whd_{}_{n:04}", endpoint.id),
        endpoint_id: endpoint.id.clone(),
        org_id: endpoint.org_id.clone(),
        event_id: format!("evt_{n}"),
        event_type: "export.completed".into(),
        subject: subject.to_string(),
        order_key: format!("20261130T1000{n:02}.000000000#evt_{n}"),
        payload: format!("{{\"n\":{n}}}"),
        status: DeliveryStatus::Pending,
        attempt_count: 0,
        attempts: Vec::new(),
        next_attempt_at: due,
        created_at: Utc::now(),
        delivered_at: None,
        failed_reason: None,
        version: 1,
    }
}

pub async fn webhook_store_suite(store: Arc<dyn WebhookStore>) {
    let org = unique_org("webhooks");
    let cap = 5;

    // a burst of 20 inserts for one organisation: exactly the cap lands
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, e) = (store.clone(), endpoint(&org));
            tokio::spawn(async move { store.insert_endpoint(&e, cap).await.map(|_| e) })
        })
        .collect();
    let mut stored = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(e) => stored.push(e),
            Err(PortError::LimitReached) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored.len(), cap as usize, "the cap holds under a burst");
    let listed = store.list_endpoints(&org).await.unwrap();
    assert_eq!(listed.len(), cap as usize);
    assert!(listed.windows(2).all(|w| w[0].created_at <= w[1].created_at), "oldest first");
    assert!(store.list_endpoints(&unique_org("nobody")).await.unwrap().is_empty());

    // an id that exists is a conflict, also under the cap
    let first = stored[0].clone();
    assert!(store.delete_endpoint(&stored[1]).await.unwrap());
    assert!(!store.delete_endpoint(&stored[1]).await.unwrap(), "gone already");
    assert!(matches!(store.insert_endpoint(&first, cap).await, Err(PortError::Conflict)));
    // the delete freed a place
    store.insert_endpoint(&endpoint(&org), cap).await.unwrap();
    assert!(matches!(store.insert_endpoint(&endpoint(&org), cap).await, Err(PortError::LimitReached)));

    // read back whole; updates only over the version read
    let got = store.get_endpoint(&first.id).await.unwrap().unwrap();
    assert_eq!(got.id, first.id);
    assert_eq!(got.description.as_deref(), Some("Økonomisystemet"));
    assert_eq!(got.secrets, first.secrets);
    assert_eq!((got.created_at - first.created_at).num_milliseconds().abs(), 0);
    let mut changed = got.clone();
    changed.status = EndpointStatus::Disabled;
    changed.disabled_reason = Some("test".into());
    changed.version = 2;
    store.update_endpoint(&changed, 1).await.unwrap();
    assert!(matches!(store.update_endpoint(&changed, 1).await, Err(PortError::Conflict)));
    let again = store.get_endpoint(&first.id).await.unwrap().unwrap();
    assert_eq!((again.status, again.version), (EndpointStatus::Disabled, 2));
    assert!(store.get_endpoint("whe-20260101-zzzzzz").await.unwrap().is_none());

    // deliveries: idempotent inserts, due list, order per subject
    let now = Utc::now();
    let d1 = delivery(&first, 1, "exp-a", now - Duration::seconds(5));
    let d2 = delivery(&first, 2, "exp-a", now - Duration::seconds(10));
    let d3 = delivery(&first, 3, "exp-b", now + Duration::hours(1));
    for d in [&d2, &d1, &d3] {
        assert!(store.insert_delivery(d).await.unwrap());
    }
    assert!(!store.insert_delivery(&d1).await.unwrap(), "the same delivery is stored once");
    // an event handled again makes the same delivery id a moment later
    let later = WebhookDelivery { created_at: d1.created_at + Duration::seconds(3), ..d1.clone() };
    assert!(!store.insert_delivery(&later).await.unwrap(), "stored once, whenever it is made again");
    let due: Vec<String> = store
        .due_deliveries(now, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.endpoint_id == first.id)
        .map(|d| d.id)
        .collect();
    assert_eq!(due, [d2.id.clone(), d1.id.clone()], "soonest due first; not-yet-due left out");
    assert_eq!(store.first_pending(&first.id, "exp-a").await.unwrap().unwrap().id, d1.id, "by order key");
    assert_eq!(store.first_pending(&first.id, "exp-b").await.unwrap().unwrap().id, d3.id);
    assert!(store.first_pending(&first.id, "exp-c").await.unwrap().is_none());

    let mut done = d1.clone();
    done.status = DeliveryStatus::Delivered;
    done.attempt_count = 1;
    done.delivered_at = Some(now);
    done.version = 2;
    store.update_delivery(&done, 1).await.unwrap();
    assert!(matches!(store.update_delivery(&done, 1).await, Err(PortError::Conflict)));
    assert_eq!(store.first_pending(&first.id, "exp-a").await.unwrap().unwrap().id, d2.id);
    let due_now: Vec<String> = store.due_deliveries(now, 100).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(!due_now.contains(&d1.id), "a delivered one is never due");

    let listed = store.list_deliveries(&first.id, 2).await.unwrap();
    assert_eq!(listed.len(), 2, "the limit holds");
    let all = store.list_deliveries(&first.id, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    let read_back = all.iter().find(|d| d.id == d1.id).unwrap();
    assert_eq!(
        (read_back.status, read_back.attempt_count, &read_back.payload),
        (DeliveryStatus::Delivered, 1, &d1.payload)
    );

    // deleting the endpoint takes its deliveries
    assert!(store.delete_endpoint(&again).await.unwrap());
    assert!(store.list_deliveries(&first.id, 100).await.unwrap().is_empty());
    assert!(store.first_pending(&first.id, "exp-a").await.unwrap().is_none());
    let due_after: Vec<String> = store.due_deliveries(now, 100).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(!due_after.contains(&d2.id));

    // erasing the organisation: every endpoint, its deliveries and its count
    let other = unique_org("webhooks-other");
    let theirs = endpoint(&other);
    store.insert_endpoint(&theirs, cap).await.unwrap();
    let left = store.list_endpoints(&org).await.unwrap();
    let pending = delivery(&left[0], 9, "exp-c", now - Duration::seconds(1));
    assert!(store.insert_delivery(&pending).await.unwrap());
    assert_eq!(store.erase_endpoints(&org).await.unwrap(), left.len() as u64);
    assert!(store.list_endpoints(&org).await.unwrap().is_empty());
    assert!(store.list_deliveries(&left[0].id, 100).await.unwrap().is_empty());
    let due_now: Vec<String> = store.due_deliveries(now, 100).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(!due_now.contains(&pending.id));
    assert_eq!(store.list_endpoints(&other).await.unwrap().len(), 1, "another organisation keeps its endpoint");
    assert_eq!(store.erase_endpoints(&org).await.unwrap(), 0);
    // the count went with them: the whole cap is free again
    for _ in 0..cap {
        store.insert_endpoint(&endpoint(&org), cap).await.unwrap();
    }
    assert!(matches!(store.insert_endpoint(&endpoint(&org), cap).await, Err(PortError::LimitReached)));
}
