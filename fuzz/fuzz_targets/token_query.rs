//! The `/token` query: `TokenRequest::from_pairs` on the pairs of an arbitrary query string, decoded the way a
//! URL query is (`application/x-www-form-urlencoded`), in order.
//!
//! Never panics; a request it accepts obeys the contract ([`PARAMETERS`] plus the SigV4 presign parameters, and
//! nothing else), with every bound read from the parser's own constants, never restated here:
//! - at most [`TokenRequest::MAX_PAIRS`] pairs;
//! - audiences: at most [`MAX_AUDIENCES`], valid, exactly the distinct `aud` values in order of first
//!   appearance;
//! - at most one `duration` (whole seconds) and one `alg`;
//! - tags: at most [`MAX_REQUEST_TAGS`], exactly the `tag` values split at their first `=`, no key twice, each key
//!   and value within AWS's tag rules.
//!
//! The proptests in `iamjwt-core/src/tests/props.rs` check the same. `make test` runs this oracle on `fuzz/seeds/`
//! (`fuzz/tests/seeds.rs`), so an oracle that falls behind the parser fails CI, not only `make fuzz`.
#![no_main]

use iamjwt_core::Audience;
use iamjwt_core::limits::{MAX_AUDIENCES, MAX_REQUEST_TAGS};
use iamjwt_core::request::{PARAMETERS, SIGV4_QUERY_PARAMS, TokenRequest};
use iamjwt_core::template::{check_tag_key, check_tag_value};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let Ok(req) = TokenRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    else {
        return;
    };
    assert!(
        pairs.len() <= TokenRequest::MAX_PAIRS,
        "accepted {} pairs (limit {})",
        pairs.len(),
        TokenRequest::MAX_PAIRS
    );
    assert!(req.audiences.len() <= MAX_AUDIENCES);
    assert!(req.tags.len() <= MAX_REQUEST_TAGS);
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (k, _) in &pairs {
        assert!(
            PARAMETERS.contains(&k.as_str()) || SIGV4_QUERY_PARAMS.contains(&k.as_str()),
            "accepted parameter {k:?}"
        );
    }

    let mut distinct: Vec<&str> = Vec::new();
    for a in values("aud") {
        if !distinct.contains(&a) {
            distinct.push(a);
        }
    }
    let got: Vec<&str> = req.audiences.iter().map(Audience::as_str).collect();
    assert_eq!(
        got, distinct,
        "audiences are the distinct aud values in order"
    );
    for a in &req.audiences {
        assert!(Audience::parse(a.as_str()).is_ok(), "{a:?}");
    }

    match values("duration").as_slice() {
        [] => assert_eq!(req.duration, None),
        [d] => {
            assert!(
                !d.is_empty() && d.len() <= 9 && d.bytes().all(|b| b.is_ascii_digit()),
                "accepted duration {d:?}"
            );
            assert_eq!(req.duration, d.parse().ok());
        }
        more => panic!("accepted {} duration parameters", more.len()),
    }
    match values("alg").as_slice() {
        [] => assert_eq!(req.alg, None),
        [a] => assert_eq!(req.alg.map(|alg| alg.as_str()), Some(*a)),
        more => panic!("accepted {} alg parameters", more.len()),
    }

    let mut tags = BTreeMap::new();
    for t in values("tag") {
        let (k, v) = t
            .split_once('=')
            .unwrap_or_else(|| panic!("accepted tag {t:?} without ="));
        assert!(check_tag_key(k).is_ok(), "accepted tag key {k:?}");
        assert!(check_tag_value(k, v).is_ok(), "accepted tag value {v:?}");
        assert!(
            tags.insert(k.to_owned(), v.to_owned()).is_none(),
            "accepted tag key {k:?} twice"
        );
    }
    assert_eq!(req.tags, tags, "tags are the tag values split at the first =");
});
