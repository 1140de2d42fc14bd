//! The `/token` query: `TokenRequest::from_pairs` on the pairs of an arbitrary query string, decoded the way a
//! URL query is (`application/x-www-form-urlencoded`), in order.
//!
//! Never panics; a request it accepts has at most `MAX_AUDIENCES` unique, valid audiences — exactly the distinct
//! `aud` values, in order of first appearance — at most one `duration` (whole seconds) and at most one `alg`, and
//! no parameter outside the contract (DESIGN.md §1). The proptests in `iamjwt-core/src/props.rs` check the same.
#![no_main]

use iamjwt_core::Audience;
use iamjwt_core::limits::MAX_AUDIENCES;
use iamjwt_core::request::{SIGV4_QUERY_PARAMS, TokenRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let Ok(req) = TokenRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    else {
        return;
    };
    assert!(req.audiences.len() <= MAX_AUDIENCES);
    assert!(pairs.len() <= 32, "accepted {} pairs", pairs.len());
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (k, _) in &pairs {
        assert!(
            ["aud", "duration", "alg"].contains(&k.as_str())
                || SIGV4_QUERY_PARAMS.contains(&k.as_str()),
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
});
