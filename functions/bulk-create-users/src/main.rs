//! Lambda entry point: the allocator tuned, tracing, clients built once, then the runtime loop.

use lambda_runtime::{run, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    sl_aws::start(serve)
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = bulk_create_users::App::from_env().await;
    let app = &app;
    run(service_fn(
        move |event| async move { app.handle(event).await },
    ))
    .await
}
