//! The principal-tag port's cache against a fake IAM: entries expire after their TTL and the cache stays bounded.
//! The handler's use of the tags (moto's IAM, the reader role, throttled and denied lookups) is tested with the
//! token handler, in iamjwt-lambda.

use crate::support::*;
use aws_sdk_iam::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::iam_tags::IamTagSource;
use std::time::Duration;

#[tokio::test]
async fn cache_expires_after_its_ttl_and_stays_bounded() {
    use iamjwt_core::identity::{Caller, Principal};
    use iamjwt_core::ports::TagSource as _;
    let list = mock!(aws_sdk_iam::Client::list_role_tags).then_output(|| {
        aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput::builder()
            .tags(Tag::builder().key("team").value("blue").build().unwrap())
            .is_truncated(false)
            .build()
            .unwrap()
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&list]);
    let sts = iamjwt_aws::testing::idle_sts(REGION);
    let src = IamTagSource::new(iam, sts, None, Duration::from_millis(300))
        .with_home_account("111122223333")
        .with_max_entries(1);
    let caller = |role: &str| Caller {
        principal: Principal::parse(&format!("arn:aws:sts::111122223333:assumed-role/{role}/s1"))
            .unwrap(),
        principal_id: None,
        org_id: None,
        source_ip: None,
    };
    assert_eq!(
        src.principal_tags(&caller("a")).await.unwrap()["team"],
        "blue"
    );
    src.principal_tags(&caller("a")).await.unwrap();
    assert_eq!(list.num_calls(), 1, "cached");
    src.principal_tags(&caller("b")).await.unwrap();
    src.principal_tags(&caller("a")).await.unwrap();
    assert_eq!(list.num_calls(), 3, "one entry at most: b pushed a out");
    tokio::time::sleep(Duration::from_millis(400)).await;
    src.principal_tags(&caller("a")).await.unwrap();
    assert_eq!(list.num_calls(), 4, "expired after the TTL");
}
