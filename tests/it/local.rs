use crate::support::*;
use std::process::Command;

#[test]
fn token_verify_and_independent_client_and_verifier() {
    let s = Server::start();
    let discovery = s.get_json("/.well-known/openid-configuration");
    assert_eq!(discovery["issuer"], s.url.as_str());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", s.url)
    );

    // Our client, both algorithms.
    let rs = ok(s.token(&[]));
    let es = ok(s.token(&[
        "--alg",
        "ES256",
        "--aud",
        "sts.amazonaws.com",
        "--duration",
        "600",
    ]));
    assert_eq!(jwt_part(&rs, 0)["alg"], "RS256");
    assert_eq!(jwt_part(&es, 0)["alg"], "ES256");
    assert_eq!(
        jwt_part(&es, 1)["exp"].as_u64().unwrap() - jwt_part(&es, 1)["iat"].as_u64().unwrap(),
        600
    );

    // Our verifier accepts both; the wrong audience or issuer is a one-line failure.
    for t in [&rs, &es] {
        let claims: serde_json::Value = serde_json::from_str(&ok(run(iamjwt(&[
            "verify",
            t,
            "--issuer",
            &s.url,
            "--aud",
            "sts.amazonaws.com",
        ]))))
        .unwrap();
        assert_eq!(claims["sub"], "arn:aws:iam::000000000000:role/iamjwt-dev");
        assert_eq!(claims["aws"]["session_name"], "dev-session");
    }
    let wrong_aud = run(iamjwt(&[
        "verify",
        &rs,
        "--issuer",
        &s.url,
        "--aud",
        "someone-else",
    ]));
    assert!(!wrong_aud.status.success());
    assert_eq!(
        stderr(&wrong_aud).lines().count(),
        1,
        "{}",
        stderr(&wrong_aud)
    );
    assert!(
        stderr(&wrong_aud).starts_with("error: token rejected"),
        "{}",
        stderr(&wrong_aud)
    );
    let mut tampered = rs.clone();
    tampered.replace_range(rs.len() - 4.., "AAAA");
    assert!(
        !run(iamjwt(&[
            "verify",
            &tampered,
            "--issuer",
            &s.url,
            "--aud",
            "sts.amazonaws.com"
        ]))
        .status
        .success()
    );

    // JSON output carries the RFC 8693 fields.
    let json: serde_json::Value =
        serde_json::from_str(&ok(s.token(&["--output", "json"]))).unwrap();
    assert_eq!(
        json["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(json["token"], json["access_token"]);

    // Independent client: awscurl signs with botocore's SigV4.
    let mut c = clean(Command::new(venv_bin("awscurl")));
    c.args([
        "--service",
        "execute-api",
        "--region",
        "us-east-1",
        &format!("{}/token?alg=ES256&aud=sts.amazonaws.com", s.url),
    ]);
    s.creds.apply(&mut c);
    let body: serde_json::Value = serde_json::from_str(&ok(run(c))).unwrap();
    let from_awscurl = body["token"].as_str().unwrap().to_owned();

    // Independent verifier: PyJWT, keys found through discovery → jwks_uri.
    for t in [&rs, &es, &from_awscurl] {
        let out: serde_json::Value =
            serde_json::from_str(&ok(pyjwt_verify(&s.url, "sts.amazonaws.com", t))).unwrap();
        assert_eq!(out["claims"]["iss"], s.url.as_str());
        assert_eq!(out["claims"]["aud"], "sts.amazonaws.com");
        assert_eq!(
            out["claims"]["sub"],
            "arn:aws:iam::000000000000:role/iamjwt-dev"
        );
    }
    assert!(
        !pyjwt_verify(&s.url, "other-audience", &es).status.success(),
        "pyjwt checks aud"
    );

    // decode is clearly marked unverified.
    let d = run(iamjwt(&["decode", &es]));
    assert!(stderr(&d).contains("UNVERIFIED"));
    let decoded: serde_json::Value = serde_json::from_str(&ok(d)).unwrap();
    assert_eq!(decoded["verified"], false);
    assert_eq!(decoded["header"]["kid"], jwt_part(&es, 0)["kid"]);
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let s = Server::start();
    for (args, want) in [
        (vec!["--aud", "not-allowed"], "400 invalid_target"),
        (vec!["--duration", "59"], "400 invalid_request"),
        (vec!["--duration", "3601"], "400 invalid_request"),
    ] {
        let o = s.token(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("error: {want}")),
            "{args:?}: {err}"
        );
    }
    // Wrong secret → 403 from the gateway.
    let mut c = iamjwt(&["token", "--url", &s.url, "--region", "us-east-1"]);
    let mut bad = s.creds.clone();
    bad.secret_access_key = "x".repeat(40);
    bad.apply(&mut c);
    let o = run(c);
    assert!(
        stderr(&o).starts_with("error: 403 access_denied"),
        "{}",
        stderr(&o)
    );
    // No credentials at all.
    let o = run(iamjwt(&["token", "--url", &s.url, "--region", "us-east-1"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with("error: credentials"),
        "{}",
        stderr(&o)
    );
    // An unsigned request over real HTTP.
    let (status, body) = http_get(&format!("{}/token", s.url));
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"],
        "access_denied"
    );
    // Bad CLI usage.
    let o = run(iamjwt(&[
        "rotate",
        "--state-dir",
        "/nonexistent/iamjwt-state",
    ]));
    assert!(!o.status.success());
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    let o = run(iamjwt(&["decode", "not-a-token"]));
    assert!(!o.status.success());
}

/// ES384 (issue 11's proof of one algorithm table): enabled by configuration only, published as a P-384 JWK with
/// 48-byte coordinates, signed with a 96-byte `r||s`, verified by PyJWT through discovery and by `iamjwt verify`.
#[test]
fn es384_end_to_end_when_enabled() {
    use base64::Engine as _;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    // Not enabled by default: refused with a clear 400.
    let plain = Server::start();
    let refused = plain.token(&["--alg", "ES384"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("ES384"), "{}", stderr(&refused));

    let s = Server::start_with(&[("IAMJWT_ALGORITHMS", "RS256,ES256,ES384")]);
    let discovery = s.get_json("/.well-known/openid-configuration");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "ES384"])
    );
    let jwks = s.get_json("/.well-known/jwks.json");
    let p384: Vec<&serde_json::Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "ES384")
        .collect();
    assert!(!p384.is_empty(), "{jwks}");
    for k in &p384 {
        assert_eq!(k["crv"], "P-384");
        assert_eq!(b64(k["x"].as_str().unwrap()).len(), 48);
        assert_eq!(b64(k["y"].as_str().unwrap()).len(), 48);
    }
    let token = ok(s.token(&["--alg", "ES384"]));
    assert_eq!(jwt_part(&token, 0)["alg"], "ES384");
    assert_eq!(b64(token.split('.').nth(2).unwrap()).len(), 96);
    let py = pyjwt_verify(&s.url, "sts.amazonaws.com", &token);
    assert!(py.status.success(), "PyJWT: {}", stderr(&py));
    ok(run(iamjwt(&[
        "verify",
        &token,
        "--issuer",
        &s.url,
        "--aud",
        "sts.amazonaws.com",
    ])));
}

/// `iamjwt serve` on a free port over an existing state directory (stderr dropped).
fn serve_in(state: &std::path::Path) -> iamjwt_testkit::LocalServer {
    let mut c = clean(Command::new(iamjwt_bin()));
    c.stderr(std::process::Stdio::null());
    iamjwt_testkit::LocalServer::start(c, state).unwrap_or_else(|e| panic!("{e}"))
}

/// Issue 23 §1: restarting `serve` at another address republishes discovery (tokens and documents agree, so
/// `verify` passes); a second `serve` on a directory in use is refused in one line naming the holder's PID; and
/// `rotate --step publish` republishes for a changed issuer though no key changed.
#[test]
fn a_restart_at_another_address_republishes_and_a_second_serve_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    let first = serve_in(state.path());
    let second = run_within(
        iamjwt(&["serve", "--listen", "127.0.0.1:0", "--state-dir", dir]),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let err = stderr(&second);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("pid {}", first.pid())) && !err.contains("Some("),
        "{err}"
    );
    let first_url = first.url().to_owned();
    drop(first);

    let moved = serve_in(state.path());
    assert_ne!(moved.url(), first_url);
    assert_eq!(
        moved.ready.issuer,
        moved.url(),
        "the issuer follows the listen address"
    );
    let (status, body) = http_get(&format!("{}/.well-known/openid-configuration", moved.url()));
    assert_eq!(status, 200);
    let discovery: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(discovery["issuer"], moved.url());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", moved.url())
    );
    let dev = moved.dev().unwrap();
    let mut c = iamjwt(&[
        "token",
        "--url",
        moved.url(),
        "--region",
        "us-east-1",
        "--no-cache",
    ]);
    DevCreds::from(dev).apply(&mut c);
    let token = ok(run(c));
    ok(run(iamjwt(&[
        "verify",
        &token,
        "--issuer",
        moved.url(),
        "--aud",
        "sts.amazonaws.com",
    ])));

    // `rotate` publishing for another issuer (IAMJWT_ISSUER overrides what serve recorded): no key changes, the
    // documents do.
    let mut c = iamjwt(&["rotate", "--state-dir", dir, "--step", "publish"]);
    c.env("IAMJWT_ISSUER", "http://127.0.0.1:9");
    let out = ok(run(c));
    assert!(out.contains("publish: publish JWKS and discovery"), "{out}");
    let published: serde_json::Value = serde_json::from_slice(
        &std::fs::read(state.path().join("public/.well-known/openid-configuration")).unwrap(),
    )
    .unwrap();
    assert_eq!(published["issuer"], "http://127.0.0.1:9");
    // now the served documents name another issuer: verify says which two causes that has, in one line
    let o = run(iamjwt(&[
        "verify",
        &token,
        "--issuer",
        moved.url(),
        "--aud",
        "sts.amazonaws.com",
    ]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("out of date")
            && err.contains("rotate --step publish")
            && !err.contains("Some("),
        "{err}"
    );
}

/// Issue 23 §7: the README's Azure agent, its two-audience example and GCP's default audience all got
/// `400 invalid_target` from `make run`, and nothing named the setting. `make run` now starts with
/// docs/local-audience-policy.json; without it the refusal names `IAMJWT_AUDIENCE_POLICY`.
#[test]
fn make_run_allows_the_documented_example_audiences() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    assert!(
        makefile.contains("AUDIENCE_POLICY ?= docs/local-audience-policy.json")
            && makefile.contains(r#"IAMJWT_AUDIENCE_POLICY="$$(cat $(AUDIENCE_POLICY))""#),
        "make run no longer starts with docs/local-audience-policy.json"
    );
    let policy = std::fs::read_to_string(root().join("docs/local-audience-policy.json")).unwrap();
    let s = Server::start_with(&[("IAMJWT_AUDIENCE_POLICY", &policy)]);
    let azure = ok(s.token(&["--aud", "api://AzureADTokenExchange", "--alg", "RS256"]));
    assert_eq!(jwt_part(&azure, 1)["aud"], "api://AzureADTokenExchange");
    let two = ok(s.token(&["--aud", "sts.amazonaws.com", "--aud", "api://other"]));
    assert_eq!(jwt_part(&two, 1)["azp"], "sts.amazonaws.com");
    let gcp = "https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";
    assert_eq!(jwt_part(&ok(s.token(&["--aud", gcp])), 1)["aud"], gcp);
    // not granted: still refused
    assert!(!s.token(&["--aud", "api://someone-else"]).status.success());

    let plain = Server::start();
    let o = plain.token(&["--aud", "api://AzureADTokenExchange"]);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: 400 invalid_target") && err.contains("IAMJWT_AUDIENCE_POLICY"),
        "{err}"
    );
}

/// Issue 19 §6: `iamjwt serve` parsed the settings only the AWS adapters honour and then ignored them. Each is now
/// refused at start, by the real binary, in a line naming the variable and why; nothing listens and nothing is
/// written to the state directory. With all of them set, every one is named.
#[test]
fn serve_refuses_at_start_every_setting_local_mode_cannot_honour() {
    let vars = [
        ("IAMJWT_TAG_READER_ROLE", "iamjwt-tag-reader"),
        ("IAMJWT_TAG_CACHE_SECONDS", "60"),
        ("IAMJWT_KEY_ALIAS_PREFIX", "alias/iamjwt"),
        ("IAMJWT_BUCKET", "iamjwt-issuerbucket-example"),
        ("IAMJWT_REGIONS", "us-east-1,eu-west-1"),
    ];
    let serve = |env: &[(&str, &str)]| {
        let state = tempfile::tempdir().unwrap();
        let mut c = iamjwt(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ready-json",
            "--state-dir",
            state.path().to_str().unwrap(),
        ]);
        c.envs(env.iter().copied());
        let o = run_within(c, std::time::Duration::from_secs(30));
        let files = std::fs::read_dir(state.path()).unwrap().count();
        (o, files)
    };
    for (name, value) in vars {
        let (o, files) = serve(&[(name, value)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(stdout(&o).is_empty(), "{name}: no ready line");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.contains(name) && err.contains("local mode") && err.contains("unset it"),
            "{name}: {err}"
        );
        assert_eq!(files, 0, "{name}: nothing written to the state directory");
    }
    let (o, _) = serve(&vars);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for (name, _) in vars {
        assert!(err.contains(name), "{name} not named: {err}");
    }
}

/// `serve --replica --region R` on the same state directory: a second regional front door.
fn replica_in(state: &std::path::Path, region: &str) -> iamjwt_testkit::LocalServer {
    let mut c = clean(Command::new(iamjwt_bin()));
    c.stderr(std::process::Stdio::null());
    iamjwt_testkit::LocalServer::start_with(c, state, &["--replica", "--region", region])
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Issue 21: two front doors on one state directory (the owner in us-east-1, a read-only replica in eu-west-1);
/// `iamjwt token` with both URLs prefers its own region, and when that front door dies the next token comes from
/// the other within 3 s. A region name that is not one is refused before it is put into a URL.
#[test]
fn token_fails_over_between_regional_front_doors() {
    let state = tempfile::tempdir().unwrap();
    let owner = serve_in(state.path());
    let replica = replica_in(state.path(), "eu-west-1");
    assert_eq!(replica.ready.issuer, owner.ready.issuer);
    let dev = owner.dev().unwrap().clone();
    let us = format!("us-east-1={}", owner.url());
    let eu = format!("eu-west-1={}", replica.url());
    let token = |env_region: &str| {
        let mut c = iamjwt(&["token", "--url", &us, "--url", &eu, "--no-cache"]);
        DevCreds::from(&dev).apply(&mut c);
        c.env("AWS_REGION", env_region);
        run_within(c, std::time::Duration::from_secs(20))
    };
    let first = ok(token("us-east-1"));
    assert_eq!(jwt_part(&first, 1)["iss"], owner.ready.issuer.as_str());

    // Hostile region names, from AWS_REGION: refused in one line, nothing sent.
    for bad in ["evil.example/x", "us-east-1.evil.example"] {
        let out = token(bad);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("region"), "{err}");
    }

    let issuer = owner.ready.issuer.clone();
    drop(owner);
    let started = std::time::Instant::now();
    let second = ok(token("us-east-1"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(jwt_part(&second, 1)["iss"], issuer.as_str());
    assert_ne!(jwt_part(&second, 1)["jti"], jwt_part(&first, 1)["jti"]);
}
