//! User management by admins.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;
use app::models::Role;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_creates_workers_and_admins_who_can_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;

    for role in ["worker", "admin", "client"] {
        let username = format!("new_{role}");
        let created = app
            .post(
                "/api/v1/users",
                &admin.access,
                json!({"username": username, "password": "long enough pw", "role": role}),
            )
            .await;
        assert_eq!(created.expect(201)["role"], role);
        let login = app
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": "long enough pw"})),
            )
            .await;
        assert_eq!(login.expect(200)["user"]["role"], role);
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_user_list_filters_by_role_and_paginates(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    for _ in 0..3 {
        app.user(Role::Worker).await;
    }
    app.user(Role::Client).await;

    let workers = app
        .get("/api/v1/users?role=worker&limit=2", &admin.access)
        .await;
    let second = app
        .get("/api/v1/users?role=worker&limit=2&offset=2", &admin.access)
        .await;
    let bad = app.get("/api/v1/users?role=superuser", &admin.access).await;

    let body = workers.expect(200);
    assert_eq!(body["count"], 3);
    assert_eq!(body["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        body["next"],
        "http://testserver/api/v1/users?role=worker&limit=2&offset=2"
    );
    assert_eq!(body["previous"], serde_json::Value::Null);
    let body = second.expect(200);
    assert_eq!(body["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["next"], serde_json::Value::Null);
    assert_eq!(
        body["previous"],
        "http://testserver/api/v1/users?role=worker&limit=2"
    );
    assert_eq!((bad.status, bad.code()), (400, "invalid"));
    assert!(
        workers.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|u| u["role"] == "worker")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn stats_count_users_by_role(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    app.user(Role::Worker).await;
    app.user(Role::Client).await;
    app.user(Role::Client).await;

    let stats = app.get("/api/v1/users/stats", &admin.access).await;

    assert_eq!(
        stats.expect(200),
        &json!({"total": 4, "clients": 2, "workers": 1, "admins": 1})
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_changes_and_deactivates_users_but_not_themselves(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let worker = app.user(Role::Worker).await;

    let promoted = app
        .patch(
            &format!("/api/v1/users/{}", worker.id),
            &admin.access,
            json!({"role": "admin", "phone": "+998901112233"}),
        )
        .await;
    app.delete(&format!("/api/v1/users/{}", worker.id), &admin.access)
        .await
        .expect(204);
    let fetched = app
        .get(&format!("/api/v1/users/{}", worker.id), &admin.access)
        .await;
    let self_demote = app
        .patch(
            &format!("/api/v1/users/{}", admin.id),
            &admin.access,
            json!({"role": "client"}),
        )
        .await;
    let self_delete = app
        .delete(&format!("/api/v1/users/{}", admin.id), &admin.access)
        .await;
    let missing = app.get("/api/v1/users/999999", &admin.access).await;

    assert_eq!(promoted.expect(200)["role"], "admin");
    assert_eq!(promoted.body["phone"], "+998901112233");
    assert_eq!(fetched.expect(200)["is_active"], false);
    assert_eq!((self_demote.status, self_demote.code()), (409, "conflict"));
    assert_eq!((self_delete.status, self_delete.code()), (409, "conflict"));
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
}
