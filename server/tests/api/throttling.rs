//! Limits that cannot be turned against the owner: failed sign-ins are counted per address and, generously, per
//! account; the client address behind the proxy cannot be forged; and password hashing is bounded.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{Answer, TestApp, spawn_app_with};
use app::models::Role;

/// `POST /api/v1/auth/login` as relayed by the proxy in front with `X-Forwarded-For: forwarded`.
async fn login_via(app: &TestApp, forwarded: &str, username: &str, password: &str) -> Answer {
    let response = app
        .http
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("a JSON body");
    assert!(status < 500, "login answered {status}: {body}");
    Answer {
        status,
        headers,
        body,
    }
}

/// The statuses of `answers`.
fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status).collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn failures_from_one_address_never_lock_the_owner_out_from_another(pool: PgPool) {
    // Arrange
    let app = spawn_app_with(pool, |c| {
        c.trust_proxy = true;
        c.login_rate_limit = 10;
        c.login_account_rate_limit = 100;
    })
    .await;
    let owner = app.user(Role::Client).await;
    let (attacker, home) = ("203.0.113.66", "198.51.100.20");

    // Act: eleven wrong passwords from the attacker's address, then the owner from theirs.
    let mut guesses = Vec::new();
    for i in 0..11 {
        guesses.push(login_via(&app, attacker, &owner.username, &format!("guess {i}")).await);
    }
    let from_home = login_via(&app, home, &owner.username, &owner.password).await;
    let from_attacker = login_via(&app, attacker, &owner.username, &owner.password).await;

    // Assert
    assert_eq!(statuses(&guesses), [[401; 10].as_slice(), &[429]].concat());
    assert_eq!(guesses[10].code(), "throttled");
    assert_eq!(from_home.expect(200)["user"]["id"], owner.id);
    assert_eq!(
        (from_attacker.status, from_attacker.code()),
        (429, "throttled"),
        "the attacker's address stays throttled, even with the right password"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn successful_sign_ins_do_not_count(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.trust_proxy = true;
        c.login_rate_limit = 3;
        c.login_account_rate_limit = 3;
    })
    .await;
    let user = app.user(Role::Worker).await;
    let address = "192.0.2.7";

    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(login_via(&app, address, &user.username, &user.password).await);
    }
    for _ in 0..4 {
        answers.push(login_via(&app, address, &user.username, "wrong password").await);
    }

    assert_eq!(
        statuses(&answers),
        [200, 200, 200, 200, 200, 200, 401, 401, 401, 429]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn guessing_one_account_from_many_addresses_stops_at_the_account_ceiling(pool: PgPool) {
    // Arrange: 2 failures per address, 6 per account.
    let app = spawn_app_with(pool, |c| {
        c.trust_proxy = true;
        c.login_rate_limit = 2;
        c.login_account_rate_limit = 6;
    })
    .await;
    let target = app.user(Role::Admin).await;
    let bystander = app.user(Role::Client).await;

    // Act: one guess from each of seven addresses.
    let mut spray = Vec::new();
    for i in 1..=7 {
        spray.push(login_via(&app, &format!("198.18.0.{i}"), &target.username, "a guess").await);
    }
    let right_password = login_via(&app, "198.18.1.1", &target.username, &target.password).await;
    let other_account =
        login_via(&app, "198.18.0.1", &bystander.username, &bystander.password).await;

    // Assert: the ceiling stops the spray (and, while it lasts, the account's sign-ins), nothing else.
    assert_eq!(statuses(&spray), [401, 401, 401, 401, 401, 401, 429]);
    assert_eq!(
        (right_password.status, right_password.code()),
        (429, "throttled")
    );
    let retry: u64 = right_password.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    other_account.expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn behind_the_proxy_a_forged_leading_forwarded_hop_is_ignored(pool: PgPool) {
    // Arrange: one failure per address; each attempt names another account, so only addresses are counted.
    let app = spawn_app_with(pool, |c| {
        c.trust_proxy = true;
        c.login_rate_limit = 1;
    })
    .await;
    let cases = [
        (
            "1.1.1.1, 203.0.113.9",
            401,
            "the first failure of 203.0.113.9",
        ),
        (
            "8.8.8.8, 203.0.113.9",
            429,
            "another forged hop, the same client",
        ),
        ("203.0.113.9", 429, "the same client, nothing forged"),
        ("evil, 203.0.113.9", 429, "garbage forged"),
        (
            "1.1.1.1, 203.0.113.10",
            401,
            "the same forged hop, another client",
        ),
        ("203.0.113.11", 401, "a third client"),
    ];

    for (i, (forwarded, status, description)) in cases.into_iter().enumerate() {
        // Act
        let answer = login_via(&app, forwarded, &format!("nobody{i}"), "a guess").await;

        // Assert
        assert_eq!(answer.status, status, "{description}: {}", answer.body);
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn without_trust_proxy_the_forwarded_header_is_ignored(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.login_rate_limit = 1).await;

    let first = login_via(&app, "203.0.113.1", "nobody1", "a guess").await;
    let second = login_via(&app, "203.0.113.2", "nobody2", "a guess").await;

    assert_eq!((first.status, second.status), (401, 429));
}

#[test]
fn the_shipped_nginx_overwrites_the_forwarded_header_with_the_peer_address() {
    let conf = include_str!("../../../deploy/nginx/task.conf");
    let sets: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("X-Forwarded-For"))
        .collect();

    assert!(!sets.is_empty(), "nginx sets no X-Forwarded-For");
    for line in sets {
        assert_eq!(
            line, "proxy_set_header X-Forwarded-For $remote_addr;",
            "nginx must not pass on what the client sent"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_burst_of_sign_ins_beyond_the_hashing_budget_gets_503_with_retry_after(pool: PgPool) {
    // Arrange: a budget of one 4 MiB hash at a time, and no waiting for a turn.
    let app = spawn_app_with(pool, |c| {
        c.password.argon2_memory_kib = 4096;
        c.password.argon2_iterations = 2;
        c.password.argon2_budget_mib = 4;
        c.password.argon2_wait_ms = 0;
    })
    .await;
    let user = app.user(Role::Client).await;

    // Act: 24 sign-ins at once, half of them naming nobody (a decoy hash is checked for those).
    let logins = (0..24).map(|i| {
        let (username, password) = if i % 2 == 0 {
            (user.username.clone(), user.password.clone())
        } else {
            (format!("nobody{i}"), "a guess".to_owned())
        };
        let app = &app;
        async move {
            app.call_allowing_5xx(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(logins).await;

    // Assert
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(
        !busy.is_empty(),
        "no sign-in was refused: {:?}",
        statuses(&answers)
    );
    assert!(
        answers.iter().all(|a| [200, 401, 503].contains(&a.status)),
        "{:?}",
        statuses(&answers)
    );
    for answer in busy {
        assert_eq!(answer.code(), "unavailable");
        let retry: u64 = answer.headers["retry-after"]
            .to_str()
            .expect("ASCII")
            .parse()
            .expect("seconds");
        assert!(retry >= 1, "Retry-After {retry}");
    }
    assert_eq!(
        app.ctx.hasher.peak_concurrency(),
        1,
        "more hashes ran at once than the budget allows"
    );
    // Which of the burst got the one turn depends on timing; once the burst is over, the owner signs in.
    app.login(&user.username, &user.password).await.expect(200);
}
