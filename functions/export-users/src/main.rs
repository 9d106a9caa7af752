//! Lambda entry point: the allocator tuned, tracing, clients built once, then the runtime loop.

use lambda_runtime::{run, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    // Before the runtime's threads exist (see sl_aws::allocator).
    sl_aws::allocator::tune();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = export_users::App::from_env().await;
    let app = &app;
    run(service_fn(
        move |event| async move { app.handle(event).await },
    ))
    .await
}
