//! Credentials at rest: a copy of the database yields none.

use reqwest::StatusCode;
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![database_holds_no_credential_in_plain_text]
}

async fn database_holds_no_credential_in_plain_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let mut secrets = vec![client.secret.clone().unwrap(), PASSWORD.to_owned()];
    for _ in 0..3 {
        let t = app.password_token(&client, "alice", None).await;
        secrets.push(t["access_token"].as_str().unwrap().to_owned());
        secrets.push(t["refresh_token"].as_str().unwrap().to_owned());
        let refreshed = app
            .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())])
            .await
            .assert_token();
        secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
        secrets.push(refreshed["refresh_token"].as_str().unwrap().to_owned());
    }
    let cc = app.client_credentials(&client).await;
    secrets.push(cc["access_token"].as_str().unwrap().to_owned());
    assert_eq!(app.status_with_token("/api/hello/", &secrets[secrets.len() - 1]).await, StatusCode::OK);

    let dump = match backend {
        Backend::Sqlite => {
            // The main file and the write-ahead log: everything SQLite has written.
            let path = app.db.sqlite_path.clone().unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            let wal = path.with_file_name("portcullis.db-wal");
            if let Ok(more) = std::fs::read(wal) {
                bytes.extend(more);
            }
            assert!(bytes.len() > 4096, "the database file was read");
            bytes
        }
        Backend::Postgres => {
            // Every row of every table, as PostgreSQL renders it.
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            assert!(tables.len() >= 10, "{tables:?}");
            let mut bytes = Vec::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                for row in rows {
                    bytes.extend(row.into_bytes());
                }
            }
            assert!(bytes.len() > 1000, "the tables were read");
            bytes
        }
    };
    for secret in &secrets {
        assert!(
            !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a credential ({} bytes) is stored in plain text",
            secret.len()
        );
    }
}
