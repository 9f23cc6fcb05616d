//! `LISTEN` on a connection of its own, for the two things an instance hears from the others:
//! their commits (the followers) and ended sessions (`k911_commands::sessions`).

use tokio_postgres::{AsyncMessage, Config, NoTls};

/// Listens on `channel` until the connection fails or closes: `listening` is called once the
/// `LISTEN` is in place, `notified` with each notification's payload.
pub async fn listen(
    config: &Config,
    channel: &str,
    listening: impl FnOnce(),
    mut notified: impl FnMut(&str),
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection must be polled for notifications to arrive; LISTEN is sent meanwhile.
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {channel}");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    let mut listening = Some(listening);
    loop {
        tokio::select! {
            done = &mut listen, if listening.is_some() => {
                done?;
                if let Some(listening) = listening.take() {
                    listening();
                }
            }
            message = futures::StreamExt::next(&mut messages) => match message {
                Some(Ok(AsyncMessage::Notification(n))) => notified(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}
