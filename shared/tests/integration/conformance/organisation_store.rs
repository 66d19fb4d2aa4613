//! What every organisation store must do: nothing until told, then the
//! record exactly as put, each put replacing the whole record.

use chrono::{TimeZone, Utc};
use shared::domain::Organisation;
use shared::ports::OrganisationStore;

use super::unique_org;

pub fn organisation(org: &str) -> Organisation {
    Organisation {
        org_id: org.to_string(),
        name: "Foreningen for pårørende".into(),
        organisation_number: Some("974760673".into()),
        contact_email: Some("tilskudd@example.org".into()),
        default_report_profile: Some("likeperson".into()),
        updated_at: Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap(),
        updated_by: "conformance".into(),
    }
}

pub async fn organisation_store_suite(store: &dyn OrganisationStore) {
    let (org, other) = (unique_org("organisation"), unique_org("organisation-other"));
    assert_eq!(store.get_organisation(&org).await.unwrap(), None);

    let first = organisation(&org);
    store.put_organisation(&first).await.unwrap();
    assert_eq!(store.get_organisation(&org).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_organisation(&other).await.unwrap(), None);

    // a put replaces the record whole: fields it leaves out are gone
    let replaced = Organisation {
        name: "Nytt navn".into(),
        organisation_number: None,
        contact_email: None,
        default_report_profile: None,
        updated_at: first.updated_at + chrono::Duration::milliseconds(1500),
        updated_by: "someone else".into(),
        ..first.clone()
    };
    store.put_organisation(&replaced).await.unwrap();
    assert_eq!(store.get_organisation(&org).await.unwrap(), Some(replaced.clone()));

    let theirs = Organisation { name: "Andre".into(), ..organisation(&other) };
    store.put_organisation(&theirs).await.unwrap();
    assert_eq!(store.get_organisation(&other).await.unwrap(), Some(theirs));
    assert_eq!(store.get_organisation(&org).await.unwrap(), Some(replaced), "each organisation has its own");

    assert!(store.delete_organisation(&org).await.unwrap());
    assert_eq!(store.get_organisation(&org).await.unwrap(), None);
    assert!(!store.delete_organisation(&org).await.unwrap(), "gone already");
    assert!(store.get_organisation(&other).await.unwrap().is_some(), "the other stays");
}
