//! What every attachment-uploads adapter must do for the sweep of claimed
//! files: list who has claimed files and which were claimed before a time,
//! move one back to wait (dated anew, so it can be claimed again), and,
//! through `release_unnamed_attachments`, release exactly the files no
//! activity of their organisation names, leaving every other
//! organisation's alone. The adapter must have its own empty storage.

use std::future::Future;

use chrono::{Duration, Utc};
use shared::domain::{ActivityType, Attachment};
use shared::ports::{ActivityStore, AttachmentUploads};
use shared::service::{RELEASE_GRACE, ReleasedAttachments, claim_attachments, release_unnamed_attachments};

use super::{activity, day, unique_org};

fn naming(org: &str, id: &str, keys: &[&str]) -> shared::domain::Activity {
    let mut a = activity(org, id, day(2025, 3, 1), ActivityType::GroupSession);
    a.attachments = keys
        .iter()
        .map(|k| Attachment {
            name: "Oppmøteliste".into(), content_type: "application/pdf".into(), key: k.to_string()
        })
        .collect();
    a
}

/// `upload(key)` puts a file among the waiting uploads, as a signed upload would.
pub async fn attachment_uploads_suite<F, Fut>(
    uploads: &dyn AttachmentUploads,
    activities: &dyn ActivityStore,
    upload: F,
) where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let (org, other) = (unique_org("sweep"), unique_org("sweep-other"));
    let key = |o: &str, n: &str| format!("{o}/att-{n}/liste.pdf");
    let (kept, dropped, replaced, theirs) = (key(&org, "1"), key(&org, "2"), key(&org, "3"), key(&other, "4"));
    for k in [&kept, &dropped, &replaced, &theirs] {
        upload(k.clone()).await;
    }
    let written = vec![
        naming(&org, "a-kept", &[&kept]),
        naming(&org, "a-dropped", &[&dropped]),
        naming(&org, "a-replaced", &[&replaced]),
    ];
    activities.put_activities(&org, written.clone()).await.unwrap();
    claim_attachments(uploads, &written).await;
    let theirs_written = vec![naming(&other, "b", &[&theirs])];
    activities.put_activities(&other, theirs_written.clone()).await.unwrap();
    claim_attachments(uploads, &theirs_written).await;

    let mut owners = vec![org.clone(), other.clone()];
    owners.sort();
    assert_eq!(uploads.claimed_owners().await.unwrap(), owners);
    let later = Utc::now() + Duration::minutes(5);
    let mut mine = vec![kept.clone(), dropped.clone(), replaced.clone()];
    mine.sort();
    assert_eq!(uploads.claimed_before(&format!("{org}/"), later).await.unwrap(), mine);
    assert_eq!(
        uploads.claimed_before(&format!("{org}/"), Utc::now() - Duration::hours(1)).await.unwrap(),
        Vec::<String>::new()
    );
    assert!(uploads.claimed_before("../", later).await.is_err(), "a prefix that climbs out is refused");

    // One activity goes, one is written again without its file.
    assert!(activities.delete_activity(&org, "a-dropped").await.unwrap());
    activities.put_activities(&org, vec![naming(&org, "a-replaced", &[])]).await.unwrap();

    let fresh = release_unnamed_attachments(uploads, activities, Utc::now()).await.unwrap();
    assert_eq!(fresh, ReleasedAttachments::default(), "files claimed within the grace are not looked at");

    let past_grace = Utc::now() + Duration::from_std(RELEASE_GRACE).unwrap() + Duration::minutes(1);
    let swept = release_unnamed_attachments(uploads, activities, past_grace).await.unwrap();
    assert_eq!(swept, ReleasedAttachments { organisations: 2, checked: 4, released: 2 });
    assert_eq!(uploads.claimed_before(&format!("{org}/"), later).await.unwrap(), vec![kept.clone()]);
    assert_eq!(uploads.claimed_before(&format!("{other}/"), later).await.unwrap(), vec![theirs.clone()]);

    // A released file waits again: an activity naming it claims it back,
    // dated anew (a second later than the mark, as S3 dates in seconds).
    let mark = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(uploads.claim(&replaced).await.unwrap(), "released files wait to be claimed");
    assert!(!uploads.claim(&replaced).await.unwrap(), "and are claimed once");
    assert_eq!(uploads.claimed_before(&format!("{org}/"), mark).await.unwrap(), vec![kept.clone()], "claimed anew");
    assert!(!uploads.release(&dropped).await.unwrap(), "nothing claimed there any more");
    assert!(!uploads.release("../escape/x.pdf").await.unwrap());
    // Still named by nothing, so the next sweep past its grace releases it again.
    let again = release_unnamed_attachments(uploads, activities, past_grace).await.unwrap();
    assert_eq!(again, ReleasedAttachments { organisations: 2, checked: 3, released: 1 });

    // Erasing takes the waiting and the claimed alike.
    assert_eq!(uploads.erase(&format!("{org}/")).await.unwrap(), 3);
    assert_eq!(uploads.claimed_owners().await.unwrap(), vec![other.clone()]);
}
