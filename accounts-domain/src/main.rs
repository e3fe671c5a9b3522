//! The accounts service binary: load settings, start, wait for a signal.

use accounts_domain::{Application, Settings};
use platform_infra::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = telemetry::init(&settings.log, "accounts");
    let shutdown = shutdown::on_signal();
    let app = Application::build(settings, shutdown).await?;
    app.wait().await
}
