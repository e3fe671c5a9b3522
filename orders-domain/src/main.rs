//! The orders service binary: load settings, start, wait for a signal.

use orders_domain::{Application, Settings};
use platform_infra::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    let shutdown = shutdown::on_signal();
    let app = Application::build(settings, shutdown).await?;
    app.wait().await.map(|_| ())
}
