//! Analysts: every column of every read model explained, the dictionary in `docs/` equal to the
//! comments, and a read-only role that reaches `read` and nothing else.

use k911_projections::dictionary;
use k911_tests::TestApp;

/// Where the dictionary lives, from this crate's folder.
const DICTIONARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/read-models.md");

#[tokio::test]
async fn every_read_model_column_is_explained_and_the_dictionary_says_so() {
    let app = TestApp::spawn().await;
    let client = app.db.pg.get().await.unwrap();
    dictionary::create_read_models(&client).await.unwrap();
    let bare: Vec<String> = dictionary::columns(&client)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.comment.as_deref().is_none_or(str::is_empty))
        .map(|c| format!("read.{}.{}", c.table, c.name))
        .collect();
    assert!(bare.is_empty(), "columns without COMMENT ON: {bare:#?}");
    let written = dictionary::markdown(&client).await.unwrap();
    let kept = std::fs::read_to_string(DICTIONARY).unwrap_or_default();
    assert!(
        written == kept,
        "docs/read-models.md is not what the comments say: run \
         `cargo run -- projections dictionary docs/read-models.md`"
    );
}

/// A person given the analysts' role reads every read model and nothing else, and writes nothing.
#[tokio::test]
async fn the_analysts_role_reads_the_read_models_only() {
    let app = TestApp::spawn().await;
    let person = format!("analyst_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE ROLE {person} LOGIN IN ROLE k911_analyst"))
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = app.db.url().parse().unwrap();
    config.user(&person);
    let (analyst, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    // Every read model, including one a projector created after the migration.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'read' ORDER BY 1",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert!(tables.len() >= 13, "{tables:?}");
    for table in &tables {
        let read = analyst
            .query(&format!("SELECT count(*) FROM read.{table}"), &[])
            .await;
        assert!(read.is_ok(), "read.{table}: {read:?}");
    }
    for refused in [
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM credentials",
        "DELETE FROM read.loans",
        "INSERT INTO read.faq DEFAULT VALUES",
    ] {
        let error = analyst.query(refused, &[]).await.unwrap_err();
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{refused}: {error}"
        );
    }
    drop(analyst);
    driver.await.ok();
    sqlx::query(&format!("DROP ROLE {person}"))
        .execute(&app.db.sqlx)
        .await
        .unwrap();
}
