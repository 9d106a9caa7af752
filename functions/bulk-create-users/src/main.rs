//! Lambda entry point: tracing, clients built once, then the runtime loop.

use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = bulk_create_users::App::from_env().await;
    let app = &app;
    run(service_fn(
        move |event| async move { app.handle(event).await },
    ))
    .await
}
