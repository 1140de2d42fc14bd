//! `KmsRegions` (the replica regions of multi-Region keys) against moto with one backend per region
//! (`Moto::start_multi_region`: tests/moto_server_mrk.py closes moto's gaps in multi-Region keys).
use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};
use iamjwt_aws::kms::KmsRegions;
use iamjwt_aws::tags;
use iamjwt_core::region::Region;
use iamjwt_core::rotation::regions::RegionKeyStore as _;
use iamjwt_core::{Algorithm, KeyId, UnixTime};

const PREFIX: &str = "alias/iamjwt-mr";
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

async fn client(m: &iamjwt_testkit::Moto, region: &str) -> aws_sdk_kms::Client {
    iamjwt_aws::sdk::kms(&iamjwt_aws::sdk::for_endpoint(&m.endpoint, region).await)
}

/// A multi-Region ES256 key in the primary region, tagged for `issuer`, with a published-at fact.
async fn primary_key(kms: &aws_sdk_kms::Client, issuer: &str) -> KeyId {
    let out = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .multi_region(true)
        .policy(POLICY)
        .tags(tag(tags::ISSUER, issuer))
        .tags(tag(tags::ALG, "ES256"))
        .tags(tag(tags::KID, "kid-1"))
        .tags(tag(tags::CREATED_AT, "100"))
        .tags(tag(tags::PUBLISHED_AT, "200"))
        .send()
        .await
        .unwrap();
    KeyId::new(out.key_metadata().unwrap().key_id())
}

#[tokio::test]
async fn replicas_aliases_marks_and_deletion_per_region() {
    let m = iamjwt_testkit::Moto::start_multi_region().unwrap_or_else(|e| panic!("{e}"));
    let us = client(&m, "us-east-1").await;
    let eu_region = Region::parse("eu-west-1").unwrap();
    let ap_region = Region::parse("ap-southeast-2").unwrap();
    let eu = client(&m, "eu-west-1").await;
    let regions = KmsRegions::new(
        us.clone(),
        vec![
            (eu_region.clone(), eu.clone()),
            (ap_region.clone(), client(&m, "ap-southeast-2").await),
        ],
        PREFIX,
        7,
    );
    assert_eq!(regions.regions(), [eu_region.clone(), ap_region.clone()]);
    let key = primary_key(&us, PREFIX).await;
    let foreign = primary_key(&us, "alias/someone-else").await;
    let algs = [Algorithm::ES256];

    assert!(
        regions
            .load_region(&eu_region, &algs)
            .await
            .unwrap()
            .replicas
            .is_empty()
    );
    regions.replicate(&eu_region, &key).await.unwrap();
    // Idempotent: a replica that exists is success.
    regions.replicate(&eu_region, &key).await.unwrap();
    assert!(
        regions.replicate(&eu_region, &foreign).await.is_err(),
        "another issuer's key"
    );

    let loaded = regions.load_region(&eu_region, &algs).await.unwrap();
    assert!(loaded.live(&key) && loaded.current.is_empty());
    assert!(
        regions
            .load_region(&ap_region, &algs)
            .await
            .unwrap()
            .replicas
            .is_empty()
    );
    // Same key id, same public key; the identity tags and the key policy, not the primary's facts.
    let pk = |c: &aws_sdk_kms::Client| {
        let c = c.clone();
        let id = key.clone();
        async move {
            c.get_public_key()
                .key_id(id.as_str())
                .send()
                .await
                .unwrap()
                .public_key()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(pk(&us).await, pk(&eu).await);
    let replica_tags: Vec<(String, String)> = eu
        .list_resource_tags()
        .key_id(key.as_str())
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    assert!(replica_tags.contains(&(tags::ISSUER.into(), PREFIX.into())));
    assert!(replica_tags.contains(&(tags::KID.into(), "kid-1".into())));
    assert!(!replica_tags.iter().any(|(k, _)| k == tags::PUBLISHED_AT));
    let policy = eu
        .get_key_policy()
        .key_id(key.as_str())
        .policy_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(policy.policy().unwrap()).unwrap(),
        serde_json::from_str::<serde_json::Value>(POLICY).unwrap()
    );

    // Aliases are regional.
    regions
        .point_current(&eu_region, Algorithm::ES256, Some(&key))
        .await
        .unwrap();
    let loaded = regions.load_region(&eu_region, &algs).await.unwrap();
    assert_eq!(loaded.current.get(&Algorithm::ES256), Some(&key));
    assert!(
        us.describe_key()
            .key_id(format!("{PREFIX}/es256/current"))
            .send()
            .await
            .is_err(),
        "the primary region has no such alias"
    );
    regions
        .point_current(&eu_region, Algorithm::ES256, Some(&key))
        .await
        .unwrap();

    regions
        .mark_demoted(&eu_region, &key, UnixTime(300))
        .await
        .unwrap();
    regions
        .point_current(&eu_region, Algorithm::ES256, None)
        .await
        .unwrap();
    regions
        .point_current(&eu_region, Algorithm::ES256, None)
        .await
        .unwrap();
    let loaded = regions.load_region(&eu_region, &algs).await.unwrap();
    assert!(loaded.current.is_empty());
    assert_eq!(loaded.replicas[&key].demoted_at, Some(UnixTime(300)));

    assert!(regions.retired().await.unwrap().is_empty());
    regions.schedule_deletion(&eu_region, &key).await.unwrap();
    regions.schedule_deletion(&eu_region, &key).await.unwrap();
    assert!(
        regions
            .load_region(&eu_region, &algs)
            .await
            .unwrap()
            .replicas[&key]
            .pending_deletion
    );
    us.schedule_key_deletion()
        .key_id(key.as_str())
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        regions.retired().await.unwrap(),
        std::collections::BTreeSet::from([key])
    );
}

const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const T0: UnixTime = UnixTime(1_700_000_000);
const DAY: u64 = 86_400;

/// The rotation of an issuer in three regions, through KMS and S3 (moto with one backend per region): every step
/// replicates, moves the regional aliases, and deletes replicas before their primary.
#[tokio::test]
async fn rotation_in_three_regions_through_kms_and_s3() {
    use iamjwt_aws::kms::{KmsKeyStore, KmsSigner};
    use iamjwt_aws::s3::S3Publisher;
    use iamjwt_core::ports::{KeyStore as _, Publisher as _, Signer as _};
    use iamjwt_core::rotation::regions::RegionalRotator;
    use iamjwt_core::rotation::{RotationPolicy, Rotator, Step};

    let m = iamjwt_testkit::Moto::start_multi_region().unwrap_or_else(|e| panic!("{e}"));
    let conf = iamjwt_aws::sdk::for_endpoint(&m.endpoint, "us-east-1").await;
    let bucket = "iamjwt-regions-test";
    iamjwt_aws::sdk::s3(&conf)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let replica_regions = ["eu-west-1", "ap-southeast-2"];
    let store = KmsKeyStore::new(
        iamjwt_aws::sdk::kms(&conf),
        PREFIX,
        7,
        iamjwt_aws::testing::key_access().unwrap(),
    )
    .with_multi_region(true);
    let regions = KmsRegions::new(
        iamjwt_aws::sdk::kms(&conf),
        replica_regions
            .iter()
            .map(|r| (Region::parse(r).unwrap(), iamjwt_aws::sdk::kms_in(&conf, r)))
            .collect(),
        PREFIX,
        7,
    );
    let publisher = S3Publisher::new(iamjwt_aws::sdk::s3(&conf), bucket, 3600);
    let policy = RotationPolicy {
        min_publish_age: DAY,
        retire_after: 7_500,
    };
    let rotator = RegionalRotator {
        primary: Rotator {
            store: &store,
            publisher: &publisher,
            issuer: "https://id.example.com",
            algs: &ALGS,
            policy,
        },
        regions: &regions,
    };
    let run = |now: UnixTime| {
        let rotator = &rotator;
        async move {
            for step in Step::ALL {
                let r = rotator.run_step(step, false, now).await.unwrap();
                assert!(r.complete(), "{step}: {:?}", r.region_errors);
            }
        }
    };

    run(T0).await;
    let state = store.load(&ALGS).await.unwrap();
    // Multi-Region keys, as KMS reports them: rotation may replicate them.
    assert!(
        iamjwt_core::rotation::regions::slot_records(&state).all(|k| !k.single_region),
        "{state:?}"
    );
    let published: Vec<_> = publisher
        .read_jwks()
        .await
        .unwrap()
        .unwrap()
        .kids()
        .cloned()
        .collect();
    for region in ["us-east-1"].into_iter().chain(replica_regions) {
        // A token function in each region resolves its own alias to its local replica: one kid everywhere.
        let signer = KmsSigner::new(
            iamjwt_aws::sdk::kms_in(&conf, region),
            PREFIX,
            std::time::Duration::from_secs(300),
        );
        for alg in ALGS {
            let key = signer.signing_key(alg).await.unwrap();
            let primary = state.algs[&alg].current.as_ref().unwrap();
            assert_eq!(key.kid(), &primary.kid, "{region} {alg}");
            assert!(published.contains(key.kid()));
            assert!(!key.sign(b"x.y").await.unwrap().is_empty());
        }
    }

    let old: Vec<KeyId> = ALGS
        .iter()
        .map(|a| state.algs[a].current.as_ref().unwrap().id.clone())
        .collect();
    run(T0.plus(DAY)).await;
    run(T0.plus(2 * DAY)).await;
    for region in replica_regions {
        let r = Region::parse(region).unwrap();
        let keys = regions.load_region(&r, &ALGS).await.unwrap();
        for k in &old {
            assert!(
                keys.replicas[k].pending_deletion,
                "{region}: replica of {k}"
            );
            assert!(!keys.signs_with(k));
        }
    }
    let retired = regions.retired().await.unwrap();
    for k in &old {
        assert!(retired.contains(k), "primary {k} scheduled");
    }
    // Idempotent: a further run in the same moment changes nothing.
    for step in [Step::Retire, Step::Create, Step::Publish] {
        let r = rotator
            .run_step(step, false, T0.plus(2 * DAY))
            .await
            .unwrap();
        assert!(r.actions.is_empty(), "{step}: {:?}", r.actions);
    }
}
