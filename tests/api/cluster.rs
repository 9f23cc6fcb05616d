use k911_event_store::cluster::{start_private_cluster, stop_private_cluster};
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn a_private_cluster_starts_from_the_machines_binaries_and_is_reused() {
    let dir = std::env::temp_dir().join(format!("k911-cluster-{}", uuid::Uuid::new_v4().simple()));
    let url = start_private_cluster(&dir).await.expect("private cluster");
    // A second start finds it initialised and running.
    assert_eq!(start_private_cluster(&dir).await.unwrap(), url);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    conn.close().await.unwrap();
    stop_private_cluster(&dir).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
