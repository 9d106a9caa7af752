//! Exchanging a request and reading its whole answer in a task of their own.
//!
//! A future is only driven while it is polled. A listing keeps several pages in flight inside the one task that
//! also parses and writes each page it reaches, so, driven inline, the pages ahead stop moving whenever that task
//! is busy: an answer whose headers arrived waits for the next poll before its body is read, and hyper hands a
//! body over only as fast as its reader is polled. Exchanged in a task of their own, the pages ahead arrive
//! meanwhile, and the listing's time is its latency or its consumer's work, not the sum of the two.

use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::task::JoinHandle;

/// Why no answer was read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The request could not be sent, or the connection failed or timed out while the answer was read.
    Read(reqwest::Error),
    /// The task exchanging it was stopped (the runtime is shutting down).
    Interrupted,
}

/// A whole answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status.
    pub(crate) status: StatusCode,
    /// Its `Retry-After` header, as sent (when it is text).
    pub(crate) retry_after: Option<String>,
    /// Its body.
    pub(crate) bytes: Vec<u8>,
}

/// Aborts the exchanging task if the exchange is abandoned (a listing dropped with pages in flight).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The most a declared `Content-Length` reserves up front (a larger body still grows past it as it arrives).
const PRESIZE_LIMIT: u64 = 16 << 20;

/// Sends `request` and reads its whole answer in a spawned task; a panic in that task resumes here.
pub(crate) async fn exchange(request: RequestBuilder) -> Result<Answer, BodyError> {
    let mut task = AbortOnDrop(tokio::spawn(async move {
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = collect(response).await?;
        Ok(Answer {
            status,
            retry_after,
            bytes,
        })
    }));
    match (&mut task.0).await {
        Ok(answer) => answer.map_err(BodyError::Read),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(BodyError::Interrupted),
    }
}

/// The body's chunks appended to one buffer sized by `Content-Length`: no list of chunks copied at the end,
/// so a page is held once, not twice, while it is read.
async fn collect(mut response: Response) -> reqwest::Result<Vec<u8>> {
    let declared = response.content_length().unwrap_or(0).min(PRESIZE_LIMIT);
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc::{Receiver, channel};
    use std::time::Duration;

    use super::*;

    /// More than loopback socket buffers hold, so the server finishes only if the client keeps reading.
    const BODY: usize = 48 << 20;

    /// A server for one request: it reads the request's head, then `answer` writes to the connection.
    fn serve_once(answer: impl FnOnce(TcpStream) + Send + 'static) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let mut request = BufReader::new(socket.try_clone().unwrap());
            let mut line = String::new();
            while request.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            answer(socket);
        });
        url
    }

    /// A server answering one GET with `BODY` bytes; it tells whether it wrote them all (false: the client
    /// went away first).
    fn big_answer() -> (String, Receiver<bool>) {
        let (tell, told) = channel();
        let url = serve_once(move |mut socket| {
            write!(socket, "HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\n\r\n").unwrap();
            let chunk = vec![b'x'; 1 << 20];
            let all = (0..BODY / chunk.len()).all(|_| socket.write_all(&chunk).is_ok());
            let _ = tell.send(all);
        });
        (url, told)
    }

    const PATIENCE: Duration = Duration::from_secs(20);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_answer_keeps_arriving_while_its_exchange_is_not_polled() {
        let (url, told) = big_answer();
        let mut reading = Box::pin(exchange(reqwest::Client::new().get(&url)));
        assert!(futures::poll!(&mut reading).is_pending());
        // The exchange is not polled again until the server has written everything: driven inline, the request
        // would not even be answered, and `PATIENCE` would run out.
        let wrote_all = tokio::task::block_in_place(|| told.recv_timeout(PATIENCE));
        assert_eq!(
            wrote_all,
            Ok(true),
            "the body stopped arriving while its reader was not polled"
        );
        let answer = reading.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.bytes.len(), BODY);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_exchange_stops_its_task_and_the_connection() {
        // The server answers with the head and a first chunk, then waits until the exchange is abandoned before
        // it writes the rest.
        let (started, answered) = channel();
        let (abandoned, go_on) = channel::<()>();
        let (tell, told) = channel();
        let url = serve_once(move |mut socket| {
            write!(socket, "HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\n\r\n").unwrap();
            let chunk = vec![b'x'; 1 << 20];
            socket.write_all(&chunk).unwrap();
            started.send(()).unwrap();
            let _ = go_on.recv_timeout(PATIENCE);
            let all = (1..BODY / chunk.len()).all(|_| socket.write_all(&chunk).is_ok());
            let _ = tell.send(all);
        });
        let mut reading = Box::pin(exchange(reqwest::Client::new().get(&url)));
        assert!(futures::poll!(&mut reading).is_pending());
        let reached_the_body = tokio::task::block_in_place(|| answered.recv_timeout(PATIENCE));
        assert_eq!(reached_the_body, Ok(()));
        drop(reading);
        abandoned.send(()).unwrap();
        let wrote_all = tokio::task::block_in_place(|| told.recv_timeout(PATIENCE));
        assert_eq!(
            wrote_all,
            Ok(false),
            "the server could write the whole body"
        );
    }

    #[tokio::test]
    async fn a_declared_length_reserves_at_most_the_limit_and_a_short_body_is_a_read_error() {
        let url = serve_once(|mut socket| {
            // A terabyte declared (reserving it would abort the process), ten bytes sent.
            write!(
                socket,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n0123456789",
                1u64 << 40
            )
            .unwrap();
        });
        let answer = exchange(reqwest::Client::new().get(&url)).await;
        assert!(matches!(answer, Err(BodyError::Read(_))));
    }
}
