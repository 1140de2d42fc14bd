use crate::support::*;
use std::time::{Duration, Instant};

fn rotate(s: &Server, extra: &[&str]) -> std::process::Output {
    let mut c = iamjwt(&["rotate", "--state-dir"]);
    c.arg(s.state.path()).args(extra);
    run(c)
}

fn jwks_kids(s: &Server) -> Vec<String> {
    let jwks = s.get_json("/.well-known/jwks.json");
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn verify(s: &Server, token: &str) -> bool {
    run(iamjwt(&[
        "verify",
        token,
        "--issuer",
        &s.url,
        "--aud",
        "sts.amazonaws.com",
    ]))
    .status
    .success()
}

/// The server re-reads rotated keys within its refresh interval (1 s locally).
fn token_with_new_kid(s: &Server, old_kid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let t = ok(s.token(&["--alg", "ES256"]));
        if jwt_part(&t, 0)["kid"] != old_kid {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept signing with {old_kid}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn snapshot(s: &Server) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(s.state.path().join("keys.json")).unwrap(),
        std::fs::read(s.state.path().join("public/.well-known/jwks.json")).unwrap(),
    )
}

#[test]
fn rotate_refuse_and_resume() {
    let s = Server::start();
    assert_eq!(
        jwks_kids(&s).len(),
        4,
        "bootstrap: current + pending per algorithm"
    );
    let t1 = ok(s.token(&["--alg", "ES256"]));
    let kid1 = jwt_part(&t1, 0)["kid"].as_str().unwrap().to_owned();

    // A day later the pending key may sign.
    let out = ok(rotate(&s, &["--now", "+25h"]));
    assert!(out.contains("promote: point ES256 current at"), "{out}");
    let t2 = token_with_new_kid(&s, &kid1);
    assert!(verify(&s, &t1), "the old token still verifies");
    assert!(verify(&s, &t2));
    let kids = jwks_kids(&s);
    assert_eq!(kids.len(), 6, "previous, current and pending per algorithm");
    assert!(kids.contains(&kid1));
    // Independent verifier sees the new key too.
    ok(pyjwt_verify(&s.url, "sts.amazonaws.com", &t2));

    // Too early for another rotation: refused, nothing changes.
    let before = snapshot(&s);
    let refused = rotate(&s, &["--now", "+26h"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("UnsafePromotion"), "{err}");
    assert_eq!(snapshot(&s), before, "a refused rotation changes nothing");

    // A rotation killed between steps (after promote, before create/publish), then re-run.
    ok(rotate(&s, &["--now", "+50h", "--step", "retire"]));
    ok(rotate(&s, &["--now", "+50h", "--step", "promote"]));
    let t3 = token_with_new_kid(&s, jwt_part(&t2, 0)["kid"].as_str().unwrap());
    assert!(
        verify(&s, &t3),
        "the newly promoted key was published before it signed"
    );
    ok(rotate(&s, &["--now", "+50h"]));
    let kids = jwks_kids(&s);
    assert_eq!(
        kids.len(),
        6,
        "consistent again: previous, current, pending per algorithm"
    );
    assert!(!kids.contains(&kid1), "the first key is retired");
    assert!(kids.contains(&jwt_part(&t3, 0)["kid"].as_str().unwrap().to_owned()));
    assert!(verify(&s, &t2), "tokens of the previous key still verify");
    assert!(verify(&s, &ok(s.token(&[]))), "RS256 too");
}

#[test]
fn emergency_rotation_drops_the_compromised_key() {
    let s = Server::start();
    let t1 = ok(s.token(&["--alg", "ES256"]));
    let kid1 = jwt_part(&t1, 0)["kid"].as_str().unwrap().to_owned();
    ok(rotate(&s, &["--emergency"]));
    let t2 = token_with_new_kid(&s, &kid1);
    assert!(
        !jwks_kids(&s).contains(&kid1),
        "compromised key gone from the JWKS at once"
    );
    assert!(
        !verify(&s, &t1),
        "tokens of the compromised key no longer verify"
    );
    assert!(verify(&s, &t2));
}

/// Issue 19 §4, end to end with the real binary: removing an algorithm from the set (a redeploy of `serve` with
/// `IAMJWT_ALGORITHMS` shorter, same state directory and issuer) never breaks a token already issued. The removed
/// algorithm's key stays in the JWKS and its tokens keep verifying — with `iamjwt verify` and with PyJWT — while
/// no new token is signed with it; rotation retires it once its window has passed, and only then.
#[test]
fn removing_an_algorithm_keeps_its_tokens_verifying_until_rotation_retires_its_key() {
    let s = Server::start_with(&[("IAMJWT_ALGORITHMS", "RS256,ES256")]);
    let es = ok(s.token(&["--alg", "ES256"]));
    let es_kid = jwt_part(&es, 0)["kid"].as_str().unwrap().to_owned();

    let s = s.restart_with(&[("IAMJWT_ALGORITHMS", "RS256")]);
    assert!(
        jwks_kids(&s).contains(&es_kid),
        "removed at once: {:?}",
        jwks_kids(&s)
    );
    assert!(
        verify(&s, &es),
        "an ES256 token issued before the removal no longer verifies"
    );
    let py = pyjwt_verify(&s.url, "sts.amazonaws.com", &es);
    assert!(py.status.success(), "PyJWT: {}", stderr(&py));
    // No new token with the removed algorithm: one line naming it.
    let refused = s.token(&["--alg", "ES256"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ES256"), "{err}");
    assert!(verify(&s, &ok(s.token(&["--alg", "RS256"]))));

    // Retire and publish inside the window keep the key; past it the key is retired and leaves the JWKS. (The
    // other steps would promote RS256, which waits for its own publish age: not what this test is about.)
    let mut gone_at = None;
    for hours in [1, 2, 26, 50] {
        let now = format!("+{hours}h");
        ok(rotate(&s, &["--now", &now, "--step", "retire"]));
        ok(rotate(&s, &["--now", &now, "--step", "publish"]));
        if !jwks_kids(&s).contains(&es_kid) {
            gone_at = Some(hours);
            break;
        }
        assert!(
            verify(&s, &es),
            "+{hours}h: the key is published but the token fails"
        );
    }
    let gone_at = gone_at.expect("the removed algorithm's key was never retired");
    assert!(gone_at > 2, "retired inside its window (+{gone_at}h)");
    assert!(!verify(&s, &es), "verifies without its key");
}
